/* C helpers of package flbplugin: what cgo cannot do itself (call through
 * Fluent Bit's function pointers, call the variadic log_print, write a
 * non-pointer into a void* field, look up the host's cmetrics functions).
 * The ABI itself is declared in plugin/flbabi. */
#ifndef FLBPLUGIN_GLUE_H
#define FLBPLUGIN_GLUE_H

#include "flb_go_proxy.h"

/* kind: FLB_PROXY_INPUT_PLUGIN or FLB_PROXY_OUTPUT_PLUGIN */
int fp_register(struct flb_plugin_proxy_def *def, int kind, char *name,
                char *description);
int fp_def_has_config_map(struct flb_plugin_proxy_def *def);
void fp_set_config_map(struct flb_plugin_proxy_def *def, void *map);
int fp_host_took_config_map(int kind, void *ins, const char *probe, size_t probe_len);
const char *fp_get_property(struct flb_api *api, int kind, void *ins, const char *key);
int fp_set_remote_context(int kind, void *context, uintptr_t id);
int fp_log_enabled(struct flb_api *api, int kind, void *ins, int level);
void fp_log(struct flb_api *api, int level, const char *file, const char *msg);
uint64_t fp_thread_id(void);
const char *fp_instance_name(int kind, void *ins);

/* cmetrics, looked up in the host at run time */
void *fp_cmt_instance(struct flb_api *api, int kind, void *ins);
int fp_cmt_available(void);
void *fp_cmt_create(void *cmt, int gauge, char *ns, char *subsystem, char *name,
                    char *help, int label_count, char **label_keys);
int fp_cmt_update(void *metric, int gauge, int set, double val,
                  int label_count, char **label_vals);

#endif
