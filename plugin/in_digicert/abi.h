/* The C helpers of in_digicert; the ABI itself is in plugin/flbabi. */
#ifndef IN_DIGICERT_ABI_H
#define IN_DIGICERT_ABI_H

#include "flb_go_proxy.h"

int dc_register(struct flb_plugin_proxy_def *def, char *name, char *description);
const char *dc_get_property(struct flbgo_input_plugin *p, const char *key);
int dc_set_remote_context(struct flbgo_input_plugin *p, uintptr_t id);
int dc_log_enabled(struct flb_api *api, void *i_ins, int level);
void dc_log(struct flb_api *api, int level, const char *msg);
uint64_t dc_thread_id(void);

#endif
