/* The C helpers of out_secops_s3; the ABI itself is in plugin/flbabi. */
#ifndef OUT_SECOPS_S3_ABI_H
#define OUT_SECOPS_S3_ABI_H

#include "flb_go_proxy.h"

void secops_register(struct flb_plugin_proxy_def *def, char *name, char *description);
const char *secops_get_property(struct flbgo_output_plugin *p, const char *key);
void secops_set_context(struct flbgo_output_plugin *p, uintptr_t id);
int secops_log_enabled(struct flb_api *api, void *o_ins, int level);
void secops_log(struct flb_api *api, int level, const char *msg);

#endif
