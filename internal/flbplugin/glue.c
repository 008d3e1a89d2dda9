#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "glue.h"

/* Only the fields every host has (Fluent Bit 4.1's struct ends after
 * description; it is malloc'd with 32 bytes). event_type (5.0 on) is left
 * as the host's calloc made it: 0 means logs. */
int fp_register(struct flb_plugin_proxy_def *def, int kind, char *name,
                char *description)
{
    if (def == NULL) {
        return -1;
    }
    def->type = kind;
    def->proxy = FLB_PROXY_GOLANG;
    def->flags = 0;
    def->name = name;
    def->description = description;
    return 0;
}

/* The host allocated def for its own struct: the config_map field (added in
 * Fluent Bit 5.1.1) may be written only when it lies inside that
 * allocation, which the host's allocator knows (older hosts allocate 32 or
 * 40 bytes; the field needs 48). Room alone does not prove the host reads
 * the field (an allocator may hand out a larger block):
 * fp_host_took_config_map tells that at init. */
int fp_def_has_config_map(struct flb_plugin_proxy_def *def)
{
    size_t (*usable)(void *);

    if (def == NULL) {
        return 0;
    }
    /* The host's allocator: Fluent Bit may link jemalloc and export it. */
    usable = (size_t (*)(void *)) dlsym(RTLD_DEFAULT, "malloc_usable_size");
    if (usable == NULL) {
        return 0;
    }
    return usable(def) >= offsetof(struct flb_plugin_proxy_def, config_map) + sizeof(void *);
}

void fp_set_config_map(struct flb_plugin_proxy_def *def, void *map)
{
    def->config_map = map;
}

/* Whether the host copied the config map into the instance's plugin, as
 * Fluent Bit >= 5.1.1 does (and then checks every key against it): its
 * help of the instance (flb_help_input/flb_help_output, exported by the
 * fluent-bit binary, which list the plugin's config map under "options")
 * names probe, a msgpack string of one of our keys. 1 yes, 0 no, -1
 * unknown (the host has no help function). */
int fp_host_took_config_map(int kind, void *ins, const char *probe, size_t probe_len)
{
    int (*help)(void *, void **, size_t *);
    void *buf = NULL;
    size_t size = 0;
    int found;

    if (ins == NULL) {
        return -1;
    }
    help = (int (*)(void *, void **, size_t *)) dlsym(RTLD_DEFAULT,
            kind == FLB_PROXY_INPUT_PLUGIN ? "flb_help_input" : "flb_help_output");
    if (help == NULL) {
        return -1;
    }
    if (help(ins, &buf, &size) != 0 || buf == NULL) {
        return -1;
    }
    found = memmem(buf, size, probe, probe_len) != NULL;
    free(buf); /* a msgpack sbuffer: the host's malloc, which ours is */
    return found;
}

const char *fp_get_property(struct flb_api *api, int kind, void *ins, const char *key)
{
    if (api == NULL || ins == NULL) {
        return NULL;
    }
    if (kind == FLB_PROXY_INPUT_PLUGIN) {
        return api->input_get_property ? api->input_get_property(key, ins) : NULL;
    }
    return api->output_get_property ? api->output_get_property(key, ins) : NULL;
}

/* remote_context is at offset 8 in an input's context (after int coll_fd)
 * and at offset 0 in an output's. */
int fp_set_remote_context(int kind, void *context, uintptr_t id)
{
    if (context == NULL) {
        return -1;
    }
    if (kind == FLB_PROXY_INPUT_PLUGIN) {
        ((struct flb_plugin_input_proxy_context *) context)->remote_context = (void *) id;
    }
    else {
        ((struct flb_plugin_proxy_context *) context)->remote_context = (void *) id;
    }
    return 0;
}

int fp_log_enabled(struct flb_api *api, int kind, void *ins, int level)
{
    int (*check)(void *, int);

    if (api == NULL || api->log_print == NULL) {
        return 0;
    }
    check = kind == FLB_PROXY_INPUT_PLUGIN ? api->input_log_check : api->output_log_check;
    if (ins == NULL || check == NULL) {
        return 1;
    }
    return check(ins, level);
}

void fp_log(struct flb_api *api, int level, const char *file, const char *msg)
{
    if (api != NULL && api->log_print != NULL) {
        api->log_print(level, file, 0, "%s", msg);
    }
}

/* Fluent Bit runs each Go input instance on its own thread, so the calling
 * thread names the instance where a callback has no instance argument. */
uint64_t fp_thread_id(void)
{
    return (uint64_t) pthread_self();
}

/* flb_input_name / flb_output_name (alias, else e.g. "digicert.0"), exported
 * by the fluent-bit binary; NULL when the host does not have them. */
const char *fp_instance_name(int kind, void *ins)
{
    const char *(*fn)(void *);

    if (ins == NULL) {
        return NULL;
    }
    fn = (const char *(*)(void *)) dlsym(RTLD_DEFAULT,
            kind == FLB_PROXY_INPUT_PLUGIN ? "flb_input_name" : "flb_output_name");
    return fn ? fn(ins) : NULL;
}

/* ---- cmetrics ---------------------------------------------------------------- */

static struct {
    pthread_once_t once;
    void *(*counter_create)(void *, char *, char *, char *, char *, int, char **);
    void *(*gauge_create)(void *, char *, char *, char *, char *, int, char **);
    int (*counter_add)(void *, uint64_t, double, int, char **);
    int (*gauge_set)(void *, uint64_t, double, int, char **);
    int (*gauge_add)(void *, uint64_t, double, int, char **);
} cmt = {PTHREAD_ONCE_INIT, 0, 0, 0, 0, 0};

static void cmt_lookup(void)
{
    cmt.counter_create = dlsym(RTLD_DEFAULT, "cmt_counter_create");
    cmt.gauge_create = dlsym(RTLD_DEFAULT, "cmt_gauge_create");
    cmt.counter_add = dlsym(RTLD_DEFAULT, "cmt_counter_add");
    cmt.gauge_set = dlsym(RTLD_DEFAULT, "cmt_gauge_set");
    cmt.gauge_add = dlsym(RTLD_DEFAULT, "cmt_gauge_add");
}

/* What cmetrics' own cfl_time_now returns: nanoseconds since the epoch. */
static uint64_t time_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

int fp_cmt_available(void)
{
    pthread_once(&cmt.once, cmt_lookup);
    return cmt.counter_create && cmt.gauge_create && cmt.counter_add &&
           cmt.gauge_set && cmt.gauge_add;
}

void *fp_cmt_instance(struct flb_api *api, int kind, void *ins)
{
    void *(*get)(void *);

    if (api == NULL || ins == NULL) {
        return NULL;
    }
    get = kind == FLB_PROXY_INPUT_PLUGIN ? api->input_get_cmt_instance : api->output_get_cmt_instance;
    return get ? get(ins) : NULL;
}

void *fp_cmt_create(void *ctx, int gauge, char *ns, char *subsystem, char *name,
                    char *help, int label_count, char **label_keys)
{
    if (!fp_cmt_available() || ctx == NULL) {
        return NULL;
    }
    if (gauge) {
        return cmt.gauge_create(ctx, ns, subsystem, name, help, label_count, label_keys);
    }
    return cmt.counter_create(ctx, ns, subsystem, name, help, label_count, label_keys);
}

/* set: gauge_set; else add (counter or gauge). */
int fp_cmt_update(void *metric, int gauge, int set, double val,
                  int label_count, char **label_vals)
{
    uint64_t ts;

    if (metric == NULL || !fp_cmt_available()) {
        return -1;
    }
    ts = time_now();
    if (gauge) {
        return set ? cmt.gauge_set(metric, ts, val, label_count, label_vals)
                   : cmt.gauge_add(metric, ts, val, label_count, label_vals);
    }
    return cmt.counter_add(metric, ts, val, label_count, label_vals);
}
