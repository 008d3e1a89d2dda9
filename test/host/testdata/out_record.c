/*
 * A throwaway output plugin for the host's self-tests: FlushCtx appends
 * "<instance label> <tag> <size> <first byte hex>" to the file named by the
 * `record_file` property and returns the `result` property (default 1, OK).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../flb_abi.h"

struct inst {
    char label[64];
    char path[1024];
    int result;
};

int FLBPluginRegister(struct flb_plugin_proxy_def *d)
{
    d->type = 2;
    d->proxy = 11;
    d->name = "record";
    d->description = "records flushes for host self-tests";
    return 0;
}

int FLBPluginInit(struct flbgo_output_plugin *p)
{
    const char *label = ((struct flb_api *) p->api)->output_get_property("label", p->o_ins);
    const char *path = ((struct flb_api *) p->api)->output_get_property("record_file", p->o_ins);
    const char *res = ((struct flb_api *) p->api)->output_get_property("result", p->o_ins);
    struct inst *in;

    if (path == NULL) {
        return 0;
    }
    in = calloc(1, sizeof(*in));
    snprintf(in->label, sizeof(in->label), "%s", label ? label : "");
    snprintf(in->path, sizeof(in->path), "%s", path);
    in->result = res ? atoi(res) : 1;
    p->context->remote_context = in;
    return 1;
}

int FLBPluginFlushCtx(void *ctx, const void *data, size_t size, char *tag)
{
    struct inst *in = ctx;
    FILE *f = fopen(in->path, "a");
    if (f == NULL) {
        return 0;
    }
    fprintf(f, "%s %s %zu %02x\n", in->label, tag, size,
            size > 0 ? ((const unsigned char *) data)[0] : 0);
    fclose(f);
    return in->result;
}

int FLBPluginExitCtx(void *ctx)
{
    free(ctx);
    return 1;
}
