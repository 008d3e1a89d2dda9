/*
 * Our own mirror of the parts of Fluent Bit's Go-proxy ABI the input uses,
 * checked field by field against Fluent Bit v5.1.1:
 * include/fluent-bit/flb_plugin_proxy.h, include/fluent-bit/flb_api.h and
 * src/proxy/go/go.h. Where Fluent Bit's struct is longer, only the leading
 * fields are declared (the plugin never allocates these structs).
 */
#ifndef IN_DIGICERT_ABI_H
#define IN_DIGICERT_ABI_H

#include <stddef.h>
#include <stdint.h>

#define FLB_ERROR 0
#define FLB_OK 1

#define FLB_PROXY_INPUT_PLUGIN 1
#define FLB_PROXY_GOLANG 11

/* Filled by FLBPluginRegister. config_map (new in v5.x) stays NULL: Fluent
 * Bit then does not validate keys itself; LoadConfig does. */
struct flb_plugin_proxy_def {
    int type;
    int proxy;
    int flags;
    char *name;
    char *description;
    int event_type;
    void *config_map;
};

/* Function-pointer table: the order is the ABI. */
struct flb_api {
    const char *(*output_get_property)(const char *, void *);
    const char *(*input_get_property)(const char *, void *);
    void *(*output_get_cmt_instance)(void *);
    void *(*input_get_cmt_instance)(void *);
    void (*log_print)(int, const char *, int, const char *, ...);
    int (*input_log_check)(void *, int);
    int (*output_log_check)(void *, int);
};

/* An INPUT instance's context. remote_context is at offset 8 (after the int
 * and its padding), unlike the output context where it comes first; it is
 * what Fluent Bit passes to the *Ctx callbacks. */
struct flb_plugin_input_proxy_context {
    int coll_fd;
    void *remote_context;
    void *proxy;
};

/* Leading fields of struct flbgo_input_plugin. One per .so: Fluent Bit
 * overwrites them at every instance's init, so they are valid only inside
 * FLBPluginInit. */
struct flbgo_input_plugin {
    char *name;
    struct flb_api *api;
    void *i_ins;
    struct flb_plugin_input_proxy_context *context;
};

int dc_register(struct flb_plugin_proxy_def *def, char *name, char *description);
const char *dc_get_property(struct flbgo_input_plugin *p, const char *key);
int dc_set_remote_context(struct flbgo_input_plugin *p, uintptr_t id);
int dc_log_enabled(struct flb_api *api, void *i_ins, int level);
void dc_log(struct flb_api *api, int level, const char *msg);
uint64_t dc_thread_id(void);

#endif
