#include <stddef.h>
#include "abi.h"

/* C helpers for what cgo cannot do directly: call through function
 * pointers, and call the variadic log_print. */

void secops_register(struct flb_plugin_proxy_def *def, char *name, char *description)
{
    def->type = FLB_PROXY_OUTPUT_PLUGIN;
    def->proxy = FLB_PROXY_GOLANG;
    def->flags = 0;
    def->name = name;
    def->description = description;
    def->event_type = FLB_OUTPUT_LOGS;
}

const char *secops_get_property(struct flbgo_output_plugin *p, const char *key)
{
    if (p == NULL || p->api == NULL || p->api->output_get_property == NULL) {
        return NULL;
    }
    return p->api->output_get_property(key, p->o_ins);
}

void secops_set_context(struct flbgo_output_plugin *p, uintptr_t id)
{
    if (p != NULL && p->context != NULL) {
        p->context->remote_context = (void *) id;
    }
}

int secops_log_enabled(struct flb_api *api, void *o_ins, int level)
{
    if (api == NULL || api->log_print == NULL) {
        return 0;
    }
    if (o_ins == NULL || api->output_log_check == NULL) {
        return 1;
    }
    return api->output_log_check(o_ins, level);
}

void secops_log(struct flb_api *api, int level, const char *msg)
{
    if (api != NULL && api->log_print != NULL) {
        api->log_print(level, NULL, 0, "%s", msg);
    }
}
