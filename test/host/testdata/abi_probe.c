/*
 * Prints the offset of every ABI field flbhost and both plugins rely on, so a
 * test can compare our mirror headers with Fluent Bit's own (compiled with
 * the flags from a Fluent Bit build's compile_commands.json).
 *   -DPROBE_FLUENT_BIT  Fluent Bit's headers (needs -I src/proxy/go)
 *   -DPROBE_PLUGIN      plugin/flbabi/flb_go_proxy.h (needs -I plugin/flbabi)
 *   (neither)           test/host/flb_abi.h
 */
#include <stddef.h>
#include <stdio.h>

#if defined(PROBE_FLUENT_BIT)
#include <fluent-bit/flb_api.h>
#include <fluent-bit/flb_plugin_proxy.h>
#include <fluent-bit/flb_config_map.h>
#include "go.h"
#elif defined(PROBE_PLUGIN)
#include "flb_go_proxy.h"
#else
#include "../flb_abi.h"
#endif

#define F(s, f) printf("%s.%s %zu\n", #s, #f, offsetof(struct s, f))
#define S(s) printf("sizeof %s %zu\n", #s, sizeof(struct s))

int main(void)
{
    F(flb_plugin_proxy_def, type);
    F(flb_plugin_proxy_def, proxy);
    F(flb_plugin_proxy_def, flags);
    F(flb_plugin_proxy_def, name);
    F(flb_plugin_proxy_def, description);
    F(flb_plugin_proxy_def, event_type);
    F(flb_plugin_proxy_def, config_map);
    S(flb_plugin_proxy_def);
    F(flb_config_map, type);
    F(flb_config_map, name);
    F(flb_config_map, def_value);
    F(flb_config_map, flags);
    F(flb_config_map, set_property);
    F(flb_config_map, offset);
    F(flb_config_map, desc);
    F(flb_config_map, value);
    F(flb_config_map, _head);
    S(flb_config_map);
    F(flb_plugin_input_proxy_context, coll_fd);
    F(flb_plugin_input_proxy_context, remote_context);
    F(flb_plugin_input_proxy_context, proxy);
    S(flb_plugin_input_proxy_context);
    F(flb_api, output_get_property);
    F(flb_api, input_get_property);
    F(flb_api, output_get_cmt_instance);
    F(flb_api, input_get_cmt_instance);
    F(flb_api, log_print);
    F(flb_api, input_log_check);
    F(flb_api, output_log_check);
    F(flbgo_input_plugin, name);
    F(flbgo_input_plugin, api);
    F(flbgo_input_plugin, i_ins);
    F(flbgo_input_plugin, context);
    F(flb_plugin_proxy_context, remote_context);
    F(flb_plugin_proxy_context, proxy);
    S(flb_plugin_proxy_context);
    F(flbgo_output_plugin, name);
    F(flbgo_output_plugin, api);
    F(flbgo_output_plugin, o_ins);
    F(flbgo_output_plugin, context);
#ifndef PROBE_PLUGIN
    F(flb_api, custom_get_property);
    F(flb_api, custom_log_check);
    S(flb_api);
    F(flb_plugin_proxy, def);
    F(flb_plugin_proxy, api);
    F(flb_plugin_proxy, instance);
    F(flb_plugin_proxy, dso_handler);
    F(flb_plugin_proxy, data);
    F(flbgo_input_plugin, cb_init);
    F(flbgo_input_plugin, cb_collect);
    F(flbgo_input_plugin, cb_collect_ctx);
    F(flbgo_input_plugin, cb_cleanup);
    F(flbgo_input_plugin, cb_cleanup_ctx);
    F(flbgo_input_plugin, cb_exit);
    S(flbgo_input_plugin);
    F(flbgo_output_plugin, cb_init);
    F(flbgo_output_plugin, cb_flush);
    F(flbgo_output_plugin, cb_flush_ctx);
    F(flbgo_output_plugin, cb_exit);
    F(flbgo_output_plugin, cb_exit_ctx);
    S(flbgo_output_plugin);
#endif
    return 0;
}
