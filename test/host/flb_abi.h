/*
 * Fluent Bit v5.1.1's Go-proxy ABI, field for field
 * (include/fluent-bit/flb_plugin_proxy.h, include/fluent-bit/flb_api.h,
 * src/proxy/go/go.h), for flbhost and its self-test plugins.
 */
#ifndef FLBHOST_ABI_H
#define FLBHOST_ABI_H

#include <stddef.h>

#define FLB_ERROR 0
#define FLB_OK 1
#define FLB_RETRY 2
#define FLB_PROXY_INPUT_PLUGIN 1
#define FLB_PROXY_OUTPUT_PLUGIN 2
#define FLB_PROXY_GOLANG 11
#define FLB_LOG_ERROR 1
#define FLB_LOG_WARN 2
#define FLB_LOG_INFO 3
#define FLB_LOG_DEBUG 4
#define FLB_LOG_TRACE 5

struct host_list { struct host_list *prev, *next; }; /* struct mk_list */

/* include/fluent-bit/flb_config_map.h (v5.1.0 on); an array ends with an
 * entry whose name is NULL */
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
    struct host_list _head;
};

struct flb_config_map {
    int type;
    char *name;
    char *def_value;
    int flags;
    int set_property;
    unsigned long offset;
    char *desc;
    struct flb_config_map_val value;
    struct host_list _head;
};

/* include/fluent-bit/flb_plugin_proxy.h */
struct flb_plugin_proxy_def {
    int type;
    int proxy;
    int flags;
    char *name;
    char *description;
    int event_type;
    struct flb_config_map *config_map; /* added in v5.1.1; hosts before it
                                        * allocate the struct without it */
};


struct flb_plugin_proxy {
    struct flb_plugin_proxy_def *def;
    struct flb_api *api;
    void *instance;     /* overwritten by every instance init */
    void *dso_handler;
    void *data;         /* struct flbgo_*_plugin */
    struct host_list _head;
};

struct flb_plugin_proxy_context {
    void *remote_context;
    struct flb_plugin_proxy *proxy;
};

struct flb_plugin_input_proxy_context {
    int coll_fd;
    void *remote_context; /* offset 8 on LP64 */
    struct flb_plugin_proxy *proxy;
};

/* include/fluent-bit/flb_api.h: order matters, it is a vtable */
struct flb_api {
    const char *(*output_get_property)(const char *, void *);
    const char *(*input_get_property)(const char *, void *);
    void *(*output_get_cmt_instance)(void *);
    void *(*input_get_cmt_instance)(void *);
    void (*log_print)(int, const char *, int, const char *, ...);
    int (*input_log_check)(void *, int);
    int (*output_log_check)(void *, int);
    const char *(*custom_get_property)(const char *, void *);
    int (*custom_log_check)(void *, int);
};

/* src/proxy/go/go.h */
struct flbgo_output_plugin {
    char *name;
    void *api;
    void *o_ins;
    struct flb_plugin_proxy_context *context;
    int (*cb_init)(struct flbgo_output_plugin *);
    int (*cb_flush)(const void *, size_t, const char *);
    int (*cb_flush_ctx)(void *, const void *, size_t, char *);
    int (*cb_exit)(void);
    int (*cb_exit_ctx)(void *);
};

struct flbgo_input_plugin {
    char *name;
    void *api;
    void *i_ins;
    struct flb_plugin_input_proxy_context *context;
    int (*cb_init)(struct flbgo_input_plugin *);
    int (*cb_collect)(void **, size_t *);
    int (*cb_collect_ctx)(void *, void **, size_t *);
    int (*cb_cleanup)(void *);
    int (*cb_cleanup_ctx)(void *, void *);
    int (*cb_exit)(void);
};

#endif
