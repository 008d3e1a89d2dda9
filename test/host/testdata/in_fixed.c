/*
 * A throwaway input plugin for the host's self-tests. It hands over
 * `batches` buffers of `records` fixed records per instance, through the
 * same entry points a Go plugin exports. Variants (compile-time, because
 * Fluent Bit decides by which symbols exist):
 *   -DPLAIN          export only the non-Ctx collect/cleanup callbacks
 *   -DNO_CLEANUP     export no cleanup callback (the host must free)
 *   -DLEAKY_CLEANUP  export a cleanup callback that does not free
 *   -DIGNORE_PAUSE   keep handing data while paused
 * Records: [[EventTime, {}], {"instance": <tag property>, "ctx": n, "seq": k}]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../flb_abi.h"

static struct flb_api *api(struct flbgo_input_plugin *p)
{
    return (struct flb_api *) p->api;
}

struct inst {
    char label[64];
    int records, batches, sent, seq, id;
};

static struct inst insts[16];
static int ninsts;
static volatile int paused;

int FLBPluginRegister(struct flb_plugin_proxy_def *d)
{
    d->type = 1;
    d->proxy = 11;
    d->name = "fixed";
    d->description = "fixed records for host self-tests";
    ninsts = 0;
    paused = 0;
    return 0;
}

static int prop_int(struct flbgo_input_plugin *p, const char *k, int def)
{
    const char *v = api(p)->input_get_property(k, p->i_ins);
    return v != NULL && *v != '\0' ? atoi(v) : def;
}

int FLBPluginInit(struct flbgo_input_plugin *p)
{
    const char *label = api(p)->input_get_property("label", p->i_ins);
    const char *fail = api(p)->input_get_property("fail", p->i_ins);
    struct inst *in;

    if (fail != NULL) {
        if (api(p)->input_log_check(p->i_ins, 1)) {
            api(p)->log_print(1, __FILE__, __LINE__, "[in_fixed] fail: %s", fail);
        }
        return 0;
    }
    if (ninsts == 16) {
        return 0;
    }
    in = &insts[ninsts++];
    memset(in, 0, sizeof(*in));
    in->id = ninsts;
    snprintf(in->label, sizeof(in->label), "%s", label ? label : "");
    in->records = prop_int(p, "records", 2);
    in->batches = prop_int(p, "batches", 3);
    /* per-instance context goes at offset 8, after coll_fd */
    p->context->remote_context = (void *) (uintptr_t) in->id;
    if (api(p)->input_log_check(p->i_ins, 3)) {
        api(p)->log_print(3, __FILE__, __LINE__, "[in_fixed] init ctx=%d", in->id);
    }
    if (api(p)->input_log_check(p->i_ins, 4)) {
        api(p)->log_print(4, __FILE__, __LINE__, "[in_fixed] debug line");
    }
    return 1;
}

static unsigned char *put_str(unsigned char *b, const char *s)
{
    size_t n = strlen(s); /* < 32 in this plugin */
    *b++ = 0xa0 | (unsigned char) n;
    memcpy(b, s, n);
    return b + n;
}

static unsigned char *put_u32(unsigned char *b, uint32_t v)
{
    *b++ = 0xce;
    b[0] = v >> 24; b[1] = v >> 16; b[2] = v >> 8; b[3] = v;
    return b + 4;
}

static int collect(struct inst *in, void **data, size_t *len)
{
    unsigned char *buf, *b;

    *data = NULL;
    *len = 0;
#ifndef IGNORE_PAUSE
    if (paused) {
        return 1;
    }
#endif
    if (in == NULL || in->sent >= in->batches) {
        return 1;
    }
    buf = malloc((size_t) in->records * 128);
    b = buf;
    for (int i = 0; i < in->records; i++) {
        uint32_t sec = 1700000000u + (uint32_t) in->seq;
        *b++ = 0x92;
        *b++ = 0x92;
        *b++ = 0xd7; /* fixext 8, type 0: EventTime */
        *b++ = 0x00;
        b[0] = sec >> 24; b[1] = sec >> 16; b[2] = sec >> 8; b[3] = sec;
        b[4] = 0; b[5] = 0; b[6] = 0; b[7] = 7;
        b += 8;
        *b++ = 0x80;
        *b++ = 0x83;
        b = put_str(b, "instance");
        b = put_str(b, in->label);
        b = put_str(b, "ctx");
        b = put_u32(b, (uint32_t) in->id);
        b = put_str(b, "seq");
        b = put_u32(b, (uint32_t) in->seq++);
    }
    in->sent++;
    *data = buf;
    *len = (size_t) (b - buf);
    return 1;
}

#ifndef PLAIN
static struct inst *lookup(void *ctx)
{
    int id = (int) (uintptr_t) ctx;
    return id >= 1 && id <= ninsts ? &insts[id - 1] : NULL;
}
#endif

#ifndef NO_CLEANUP
static int cleanup(void *data)
{
#ifndef LEAKY_CLEANUP
    free(data);
#endif
    (void) data;
    return 0;
}
#endif

#ifdef PLAIN
/* without a context all a plain plugin can do is use the first instance */
int FLBPluginInputCallback(void **data, size_t *len)
{
    return collect(ninsts > 0 ? &insts[0] : NULL, data, len);
}
#ifndef NO_CLEANUP
int FLBPluginInputCleanupCallback(void *data)
{
    return cleanup(data);
}
#endif
#else
int FLBPluginInputCallbackCtx(void *ctx, void **data, size_t *len)
{
    return collect(lookup(ctx), data, len);
}
#ifndef NO_CLEANUP
int FLBPluginInputCleanupCallbackCtx(void *ctx, void *data)
{
    (void) ctx;
    return cleanup(data);
}
#endif
#endif

void FLBPluginInputPause(void) { paused = 1; }
void FLBPluginInputResume(void) { paused = 0; }
void FLBPluginInputPreExit(int reload) { (void) reload; }
int FLBPluginExit(void) { return 1; }
void FLBPluginUnregister(struct flb_plugin_proxy_def *d) { (void) d; }
