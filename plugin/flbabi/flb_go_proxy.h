/*
 * Fluent Bit's Go-proxy ABI as both plugins of this project see it, declared
 * field for field as in Fluent Bit v5.1.1 (include/fluent-bit/flb_plugin_proxy.h,
 * include/fluent-bit/flb_api.h, src/proxy/go/go.h). Where Fluent Bit's struct
 * is longer, only the leading fields are declared: the plugins never allocate
 * these structs. test/integration/fluentbit_abi_test.go compiles a probe
 * against this header and against Fluent Bit's own and compares every offset.
 * (test/host/flb_abi.h is a separate mirror on purpose: the host plays Fluent
 * Bit and checks the plugins independently.)
 */
#ifndef FLB_GO_PROXY_H
#define FLB_GO_PROXY_H

#include <stddef.h>
#include <stdint.h>

#define FLB_ERROR 0
#define FLB_OK 1
#define FLB_RETRY 2

#define FLB_PROXY_INPUT_PLUGIN 1
#define FLB_PROXY_OUTPUT_PLUGIN 2
#define FLB_PROXY_GOLANG 11
#define FLB_OUTPUT_LOGS 1

/* Filled by FLBPluginRegister. config_map exists only from Fluent Bit 5.1.1
 * on: on older hosts the struct (and its allocation) ends before it, so a
 * plugin writes it only after checking the allocation is large enough. */
struct flb_plugin_proxy_def {
    int type;
    int proxy;
    int flags;
    char *name;
    char *description;
    int event_type;
    void *config_map;
};

/* One entry of a config map (include/fluent-bit/flb_config_map.h, the same
 * from v5.1.0 on; only read by hosts >= 5.1.1). An array ends with an entry
 * whose name is NULL. The plugins use type FLB_CONFIG_MAP_STR only: they
 * parse values themselves; the map makes Fluent Bit reject unknown keys. */
#define FLB_CONFIG_MAP_STR 0
struct flb_config_map_val {
    union {
        int i_num;
        int boolean;
        double d_num;
        size_t s_num;
        char *str;
        void *list;
        void *variant;
    } val;
    char *raw;
    void *mult;
    struct { void *prev, *next; } _head;
};

struct flb_config_map {
    int type;
    char *name;
    char *def_value;
    int flags;
    int set_property;
    uintptr_t offset;
    char *desc;
    struct flb_config_map_val value;
    struct { void *prev, *next; } _head;
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
 * what Fluent Bit passes to the input *Ctx callbacks. */
struct flb_plugin_input_proxy_context {
    int coll_fd;
    void *remote_context;
    void *proxy;
};

/* An OUTPUT instance's context: remote_context is at offset 0 and is handed
 * back to FLBPluginFlushCtx and FLBPluginExitCtx. */
struct flb_plugin_proxy_context {
    void *remote_context;
    void *proxy;
};

/* What FLBPluginInit receives. One per .so: Fluent Bit overwrites these
 * fields at every instance's init, so they are valid only inside
 * FLBPluginInit. */
struct flbgo_input_plugin {
    char *name;
    struct flb_api *api;
    void *i_ins;
    struct flb_plugin_input_proxy_context *context;
};

struct flbgo_output_plugin {
    char *name;
    struct flb_api *api;
    void *o_ins;
    struct flb_plugin_proxy_context *context;
};

#endif
