#include <pthread.h>
#include "abi.h"

/* What cgo cannot do itself: call through C function pointers, call the
 * variadic log_print, and write a non-pointer into a void* field. */

int dc_register(struct flb_plugin_proxy_def *def, char *name, char *description)
{
    if (def == NULL) {
        return -1;
    }
    def->type = FLB_PROXY_INPUT_PLUGIN;
    def->proxy = FLB_PROXY_GOLANG;
    def->flags = 0;
    def->name = name;
    def->description = description;
    def->event_type = 0; /* unused for inputs: Go inputs always emit logs */
    return 0;
}

const char *dc_get_property(struct flbgo_input_plugin *p, const char *key)
{
    if (p == NULL || p->api == NULL || p->api->input_get_property == NULL) {
        return NULL;
    }
    return p->api->input_get_property(key, p->i_ins);
}

int dc_set_remote_context(struct flbgo_input_plugin *p, uintptr_t id)
{
    if (p == NULL || p->context == NULL) {
        return -1;
    }
    p->context->remote_context = (void *) id;
    return 0;
}

int dc_log_enabled(struct flb_api *api, void *i_ins, int level)
{
    if (api == NULL || api->log_print == NULL) {
        return 0;
    }
    if (i_ins == NULL || api->input_log_check == NULL) {
        return 1;
    }
    return api->input_log_check(i_ins, level);
}

void dc_log(struct flb_api *api, int level, const char *msg)
{
    if (api != NULL && api->log_print != NULL) {
        api->log_print(level, "in_digicert", 0, "%s", msg);
    }
}

/* Fluent Bit runs each Go input instance on its own thread (init, collect,
 * pause, resume and exit), so the calling thread names the instance where
 * the callback itself has no instance argument. */
uint64_t dc_thread_id(void)
{
    return (uint64_t) pthread_self();
}
