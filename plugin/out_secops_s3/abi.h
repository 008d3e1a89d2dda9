/*
 * The parts of Fluent Bit's Go-proxy ABI this plugin uses, declared field for
 * field as in Fluent Bit v5.1 (include/fluent-bit/flb_plugin_proxy.h,
 * include/fluent-bit/flb_api.h, src/proxy/go/go.h). Only the leading fields
 * the plugin touches are declared where Fluent Bit's struct is longer.
 */
#ifndef OUT_SECOPS_S3_ABI_H
#define OUT_SECOPS_S3_ABI_H

#include <stdint.h>

#define FLB_ERROR 0
#define FLB_OK 1
#define FLB_RETRY 2

#define FLB_PROXY_OUTPUT_PLUGIN 2
#define FLB_PROXY_GOLANG 11
#define FLB_OUTPUT_LOGS 1

/* Filled in by FLBPluginRegister. config_map was added in v5.x; leaving it
 * NULL means Fluent Bit does not validate our keys itself. */
struct flb_plugin_proxy_def {
    int type;
    int proxy;
    int flags;
    char *name;
    char *description;
    int event_type;
    void *config_map;
};

/* A table of function pointers: the order is the ABI. */
struct flb_api {
    const char *(*output_get_property)(const char *, void *);
    const char *(*input_get_property)(const char *, void *);
    void *(*output_get_cmt_instance)(void *);
    void *(*input_get_cmt_instance)(void *);
    void (*log_print)(int, const char *, int, const char *, ...);
    int (*input_log_check)(void *, int);
    int (*output_log_check)(void *, int);
};

/* An output instance's context: remote_context is at offset 0 and is handed
 * back to FLBPluginFlushCtx and FLBPluginExitCtx. */
struct flb_plugin_proxy_context {
    void *remote_context;
    void *proxy;
};

/* What FLBPluginInit receives (leading fields of struct flbgo_output_plugin).
 * name/api/o_ins/context are overwritten at every instance's init, so they
 * are read only inside FLBPluginInit. */
struct flbgo_output_plugin {
    char *name;
    struct flb_api *api;
    void *o_ins;
    struct flb_plugin_proxy_context *context;
};

void secops_register(struct flb_plugin_proxy_def *def, char *name, char *description);
const char *secops_get_property(struct flbgo_output_plugin *p, const char *key);
void secops_set_context(struct flbgo_output_plugin *p, uintptr_t id);
int secops_log_enabled(struct flb_api *api, void *o_ins, int level);
void secops_log(struct flb_api *api, int level, const char *msg);

#endif
