/*
 * flbhost: loads a Fluent Bit Go-proxy plugin (.so) and calls it the way
 * Fluent Bit v5.1.1 does (src/flb_plugin_proxy.c, src/proxy/go/go.c,
 * src/flb_input_thread.c), so plugins can be tested without Fluent Bit.
 * Usage and the event protocol are in README.md.
 *
 * Build: cc -O2 -g -Wall -Wextra -pthread -rdynamic -o flbhost flbhost.c -ldl
 * (-rdynamic exports free, which lets the host see which collected buffers
 * get freed, and the cmetrics stand-ins and flb_*_name functions the
 * fluent-bit binary exports, which plugins look up with dlsym).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "flb_abi.h"

/* What one FLBPluginRegister call produced; a reload makes a new one while
 * the old instances still use theirs (as Fluent Bit's new context does). */
struct reg {
    struct flb_plugin_proxy_def *def;
    struct flb_plugin_proxy proxy;
    struct flbgo_input_plugin in_plugin;
    struct flbgo_output_plugin out_plugin;
    void (*cb_pause)(void);
    void (*cb_resume)(void);
    void (*cb_pre_exit)(int);
    int (*cb_pre_run)(int);
};

/* ---- host state ----------------------------------------------------------- */

#define MAX_INSTANCES 16

enum cmd { CMD_NONE, CMD_PAUSE, CMD_RESUME, CMD_EXIT };

struct prop {
    char *key;
    char *val;
};

struct instance {
    int idx;
    char name[64];
    struct prop *props;
    int nprops;
    int log_level;

    /* input: the calloc'd context Fluent Bit creates in flb_input_new */
    struct flb_plugin_input_proxy_context *in_ctx;
    struct flb_plugin_proxy_context *out_ctx;

    pthread_t th;
    int thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    enum cmd cmd;      /* pending command for the instance thread */
    int cmd_seq, done_seq;
    int init_done, init_ret;
    int exited;

    atomic_int collector_paused; /* the 1 s timer collector is stopped */
    atomic_int ingestion_paused; /* Fluent Bit would drop appends now */
    long collects, empty, buffers, dropped, not_freed;
    unsigned long long bytes;

    FILE *out, *dropped_out;
    int cmt;          /* its cmetrics context is &cmt (with -M) */
    int initialised;  /* init returned: metric series made now are late */
    struct reg *reg; /* registration the instance was started under */
    int hot_reload;  /* shutdown_by_hot_reloading for PreExit */
};

static struct {
    const char *mode;
    const char *plugin_path;
    const char *out_dir;
    long period_ms;
    const char *data_file;
    const char *tag;
    const char *script;
    int ninst;
    struct instance inst[MAX_INSTANCES];

    void *dso;
    size_t def_size; /* -R: sizeof(struct flb_plugin_proxy_def) of the emulated host */
    int metrics;     /* -M: give instances a cmetrics context */
    int ignore_map;  /* -C off: the struct has room, the host ignores config_map */
    struct flb_api api;
    struct reg *R; /* the current registration */
    int failed;
} H;

static pthread_mutex_t print_mu = PTHREAD_MUTEX_INITIALIZER;

/* One line per event on stdout; the Go tests parse these. */
static void event(const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&print_mu);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
    pthread_mutex_unlock(&print_mu);
}

static void die(int code, const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&print_mu);
    fputs("flbhost: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    pthread_mutex_unlock(&print_mu);
    exit(code);
}

/* ---- buffer ownership tracking -------------------------------------------
 * The host exports free() (a thin wrapper over glibc's) so it can tell
 * whether the plugin's cleanup callback freed the buffer it handed over.
 * One slot per instance: an instance has at most one buffer in flight.
 */
extern void __libc_free(void *);
static pthread_mutex_t track_mu = PTHREAD_MUTEX_INITIALIZER;
static void *track_ptr[MAX_INSTANCES + 1];
static int track_freed[MAX_INSTANCES + 1];
static atomic_int track_active;
static int memtrack_on;

void free(void *p)
{
    if (p != NULL && atomic_load(&track_active) > 0) {
        pthread_mutex_lock(&track_mu);
        for (int i = 0; i <= MAX_INSTANCES; i++) {
            if (track_ptr[i] == p) {
                track_freed[i] = 1;
                track_ptr[i] = NULL;
            }
        }
        pthread_mutex_unlock(&track_mu);
    }
    __libc_free(p);
}

static void track_begin(int slot, void *p)
{
    pthread_mutex_lock(&track_mu);
    track_ptr[slot] = p;
    track_freed[slot] = 0;
    pthread_mutex_unlock(&track_mu);
    atomic_fetch_add(&track_active, 1);
}

static int track_end(int slot)
{
    int freed;
    pthread_mutex_lock(&track_mu);
    freed = track_freed[slot];
    track_ptr[slot] = NULL;
    pthread_mutex_unlock(&track_mu);
    atomic_fetch_sub(&track_active, 1);
    return freed;
}

/* A plugin that maps a buffer itself (anonymous mmap, not malloc) frees it
 * by unmapping it, with a raw system call no wrapper sees: the buffer is
 * freed when its first byte is in no mapping of /proc/self/maps any more
 * (qemu-user emulates that file for the guest, so this also works there). */
static int unmapped(const void *p)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    uintptr_t a = (uintptr_t) p, lo, hi;
    int found = 0;
    if (f == NULL) {
        return 0;
    }
    while (!found && fgets(line, sizeof line, f) != NULL) {
        if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR, &lo, &hi) == 2 && a >= lo && a < hi) {
            found = 1;
        }
    }
    fclose(f);
    return !found;
}

/* Frees a buffer through the dynamic symbol, the way a plugin's C.free does:
 * if that does not reach our free(), tracking is off (e.g. under valgrind,
 * which replaces allocator symbols). */
static void memtrack_selftest(void)
{
    void (*dyn_free)(void *) = (void (*)(void *)) dlsym(RTLD_DEFAULT, "free");
    void *p = malloc(16);
    if (dyn_free == NULL || p == NULL) {
        memtrack_on = 0;
        return;
    }
    track_begin(MAX_INSTANCES, p);
    dyn_free(p);
    memtrack_on = track_end(MAX_INSTANCES);
}

/* ---- the flb_api table ------------------------------------------------------ */

static const char *get_prop(const char *key, void *ins)
{
    struct instance *in = ins;
    if (key == NULL || in == NULL) {
        return NULL;
    }
    /* flb_config_prop_get: case-insensitive, NULL when unset */
    for (int i = 0; i < in->nprops; i++) {
        if (strcasecmp(in->props[i].key, key) == 0) {
            return in->props[i].val;
        }
    }
    return NULL;
}

static const char *input_get_property(const char *key, void *ins)
{
    return get_prop(key, ins);
}

static const char *output_get_property(const char *key, void *ins)
{
    return get_prop(key, ins);
}

static void *get_cmt(void *ins)
{
    struct instance *in = ins;
    return H.metrics && in != NULL ? &in->cmt : NULL;
}

/* ---- cmetrics stand-ins ------------------------------------------------------
 * The fluent-bit binary exports cmetrics; these record what a plugin does
 * with them. Each series is printed at the instance's exit:
 *   metric I NAME{k="v",...} VALUE [late]
 * "late" marks a series first created after the instance's init returned
 * (Fluent Bit may be exporting the context from another thread then). */

#define MAX_METRICS 128
#define MAX_SERIES 32
#define MAX_LABELS 4

struct fake_series {
    char vals[MAX_LABELS][96];
    double val;
    int late;
};

struct fake_metric {
    struct instance *in;
    int gauge;
    char name[160];
    int nkeys;
    char keys[MAX_LABELS][32];
    int nseries;
    struct fake_series series[MAX_SERIES];
};

static struct fake_metric fake_metrics[MAX_METRICS];
static int n_fake_metrics;
static pthread_mutex_t cmt_mu = PTHREAD_MUTEX_INITIALIZER;
static struct instance *instance_of_cmt(void *cmt);
static struct flb_config_map *host_config_map(struct reg *R);

static void *fake_create(void *cmt, int gauge, char *ns, char *sub, char *name,
                         int n, char **keys)
{
    struct fake_metric *m;
    struct instance *in = instance_of_cmt(cmt);

    if (in == NULL || n > MAX_LABELS) {
        event("error metric %s on an unknown context or with %d labels", name, n);
        return NULL;
    }
    pthread_mutex_lock(&cmt_mu);
    if (n_fake_metrics == MAX_METRICS) {
        pthread_mutex_unlock(&cmt_mu);
        return NULL;
    }
    m = &fake_metrics[n_fake_metrics++];
    memset(m, 0, sizeof(*m));
    m->in = in;
    m->gauge = gauge;
    snprintf(m->name, sizeof(m->name), "%s_%s_%s", ns, sub, name);
    m->nkeys = n;
    for (int i = 0; i < n; i++) {
        snprintf(m->keys[i], sizeof(m->keys[i]), "%s", keys[i]);
    }
    pthread_mutex_unlock(&cmt_mu);
    return m;
}

void *cmt_counter_create(void *cmt, char *ns, char *sub, char *name, char *help,
                         int n, char **keys)
{
    (void) help;
    return fake_create(cmt, 0, ns, sub, name, n, keys);
}

void *cmt_gauge_create(void *cmt, char *ns, char *sub, char *name, char *help,
                       int n, char **keys)
{
    (void) help;
    return fake_create(cmt, 1, ns, sub, name, n, keys);
}

static int fake_update(void *metric, int gauge, int set, double v, int n, char **vals)
{
    struct fake_metric *m = metric;
    struct fake_series *s = NULL;

    if (m == NULL || m->gauge != gauge || n != m->nkeys) {
        return -1;
    }
    pthread_mutex_lock(&cmt_mu);
    for (int i = 0; i < m->nseries && s == NULL; i++) {
        int same = 1;
        for (int j = 0; j < n; j++) {
            same = same && strcmp(m->series[i].vals[j], vals[j]) == 0;
        }
        if (same) {
            s = &m->series[i];
        }
    }
    if (s == NULL) {
        if (m->nseries == MAX_SERIES) {
            pthread_mutex_unlock(&cmt_mu);
            return -1;
        }
        s = &m->series[m->nseries++];
        memset(s, 0, sizeof(*s));
        for (int j = 0; j < n; j++) {
            snprintf(s->vals[j], sizeof(s->vals[j]), "%s", vals[j]);
        }
        s->late = m->in->initialised;
    }
    if (set) {
        s->val = v;
    }
    else {
        s->val += v;
    }
    pthread_mutex_unlock(&cmt_mu);
    return 0;
}

int cmt_counter_add(void *c, uint64_t ts, double v, int n, char **vals)
{
    (void) ts;
    return v < 0 ? -1 : fake_update(c, 0, 0, v, n, vals);
}

int cmt_gauge_set(void *g, uint64_t ts, double v, int n, char **vals)
{
    (void) ts;
    return fake_update(g, 1, 1, v, n, vals);
}

int cmt_gauge_add(void *g, uint64_t ts, double v, int n, char **vals)
{
    (void) ts;
    return fake_update(g, 1, 0, v, n, vals);
}

static void print_metrics(struct instance *in)
{
    char labels[512];

    pthread_mutex_lock(&cmt_mu);
    for (int i = 0; i < n_fake_metrics; i++) {
        struct fake_metric *m = &fake_metrics[i];
        if (m->in != in) {
            continue;
        }
        for (int j = 0; j < m->nseries; j++) {
            size_t off = 0;
            labels[0] = '\0';
            for (int k = 0; k < m->nkeys; k++) {
                off += snprintf(labels + off, sizeof(labels) - off, "%s%s=\"%s\"",
                                k ? "," : "", m->keys[k], m->series[j].vals[k]);
            }
            event("metric %d %s{%s} %.17g%s", in->idx, m->name, labels,
                  m->series[j].val, m->series[j].late ? " late" : "");
        }
    }
    pthread_mutex_unlock(&cmt_mu);
}

static struct instance *instance_of_cmt(void *cmt)
{
    for (int i = 0; i < H.ninst; i++) {
        if (cmt == &H.inst[i].cmt) {
            return &H.inst[i];
        }
    }
    return NULL;
}

/* flb_input_name / flb_output_name: the alias, else the instance name (the
 * host has no aliases: -i NAME). */
const char *flb_input_name(void *ins)
{
    return ins ? ((struct instance *) ins)->name : NULL;
}

const char *flb_output_name(void *ins)
{
    return flb_input_name(ins);
}

/* flb_help_input / flb_help_output: Fluent Bit packs the plugin's help in
 * msgpack, its config map under "options". Here: "options" and the key
 * names only, each a msgpack string, in a malloc'd buffer the caller frees. */
int flb_help_input(void *ins, void **out_buf, size_t *out_size)
{
    struct instance *in = ins;
    struct flb_config_map *map = in ? host_config_map(in->reg) : NULL;
    size_t cap = 64, n = 0;
    unsigned char *b = malloc(cap);

    if (b == NULL) {
        return -1;
    }
    memcpy(b, "\xa7options", 8);
    n = 8;
    for (struct flb_config_map *m = map; m != NULL && m->name != NULL; m++) {
        size_t len = strlen(m->name);
        if (len > 255) {
            continue;
        }
        if (n + len + 2 > cap) {
            cap = 2 * (n + len + 2);
            b = realloc(b, cap);
            if (b == NULL) {
                return -1;
            }
        }
        b[n++] = 0xd9; /* str8 */
        b[n++] = (unsigned char) len;
        if (len < 32) { /* fixstr, as msgpack-c packs short strings */
            b[n - 2] = (unsigned char) (0xa0 | len);
            n--;
        }
        memcpy(b + n, m->name, len);
        n += len;
    }
    *out_buf = b;
    *out_size = n;
    return 0;
}

int flb_help_output(void *ins, void **out_buf, size_t *out_size)
{
    return flb_help_input(ins, out_buf, out_size);
}

static const char *level_str(int l)
{
    switch (l) {
    case FLB_LOG_ERROR: return "error";
    case FLB_LOG_WARN: return "warn";
    case FLB_LOG_INFO: return "info";
    case FLB_LOG_DEBUG: return "debug";
    case FLB_LOG_TRACE: return "trace";
    }
    return "unknown";
}

/* flb_log_print: prints whatever it is given (gating is the caller's job,
 * through *_log_check), to stderr, with Fluent Bit's header. */
static void log_print(int level, const char *file, int line, const char *fmt, ...)
{
    char body[4096];
    struct timespec ts;
    struct tm tm;
    va_list ap;
    size_t n;

    (void) file;
    (void) line;
    va_start(ap, fmt);
    vsnprintf(body, sizeof(body), fmt, ap);
    va_end(ap);
    n = strlen(body);
    while (n > 0 && body[n - 1] == '\n') {
        body[--n] = '\0';
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    pthread_mutex_lock(&print_mu);
    fprintf(stderr, "[%04d/%02d/%02d %02d:%02d:%02d.%03ld] [%5s] %s\n",
            tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
            tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, level_str(level), body);
    fflush(stderr);
    pthread_mutex_unlock(&print_mu);
}

static int log_check(void *ins, int level)
{
    struct instance *in = ins;
    if (in == NULL) {
        return 1;
    }
    return in->log_level >= level;
}

/* ---- helpers ------------------------------------------------------------------ */

static void *sym(const char *name)
{
    void *s;
    dlerror();
    s = dlsym(H.dso, name);
    if (dlerror() != NULL) {
        return NULL;
    }
    return s;
}

/* The emulated host's registration struct has the config_map field. */
static int has_config_map(void)
{
    return H.def_size >= offsetof(struct flb_plugin_proxy_def, config_map) + sizeof(void *);
}

/* The config map the emulated host took from the registration, or NULL. */
static struct flb_config_map *host_config_map(struct reg *R)
{
    return has_config_map() && !H.ignore_map && R != NULL ? R->def->config_map : NULL;
}

static int parse_level(const char *v)
{
    static const char *names[] = {"off", "error", "warn", "info", "debug", "trace"};
    for (int i = 0; i < 6; i++) {
        if (strcasecmp(v, names[i]) == 0) {
            return i;
        }
    }
    die(1, "bad log_level '%s'", v);
    return 0;
}

/* Keys Fluent Bit keeps for itself; they never reach the plugin. */
static int host_key(struct instance *in, const char *key, const char *val)
{
    if (strcasecmp(key, "log_level") == 0) {
        in->log_level = parse_level(val);
        return 1;
    }
    return strcasecmp(key, "tag") == 0 || strcasecmp(key, "alias") == 0 ||
           strcasecmp(key, "name") == 0;
}

static void add_prop(struct instance *in, const char *key, const char *val)
{
    if (host_key(in, key, val)) {
        return;
    }
    for (int i = 0; i < in->nprops; i++) {
        if (strcasecmp(in->props[i].key, key) == 0) { /* last one wins */
            free(in->props[i].val);
            in->props[i].val = strdup(val);
            return;
        }
    }
    in->props = realloc(in->props, sizeof(struct prop) * (in->nprops + 1));
    if (in->props == NULL) {
        die(1, "out of memory");
    }
    in->props[in->nprops].key = strdup(key);
    in->props[in->nprops].val = strdup(val);
    in->nprops++;
}

static char *trim(char *s)
{
    char *e;
    while (isspace((unsigned char) *s)) {
        s++;
    }
    e = s + strlen(s);
    while (e > s && isspace((unsigned char) e[-1])) {
        *--e = '\0';
    }
    return s;
}

/* "key=value" (the -p form). */
static void add_prop_arg(struct instance *in, const char *arg)
{
    char *copy = strdup(arg);
    char *eq = strchr(copy, '=');
    if (eq == NULL || eq == copy) {
        die(1, "-p wants key=value, got '%s'", arg);
    }
    *eq = '\0';
    add_prop(in, trim(copy), eq + 1);
    free(copy);
}

/* A properties file: one "key value" per line, like a classic config
 * section body; '#' starts a comment line. */
static void add_prop_file(struct instance *in, const char *path)
{
    char line[8192];
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        die(1, "cannot open properties file %s: %s", path, strerror(errno));
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        char *s = trim(line);
        char *sep;
        if (*s == '\0' || *s == '#') {
            continue;
        }
        sep = s;
        while (*sep != '\0' && !isspace((unsigned char) *sep)) {
            sep++;
        }
        if (*sep == '\0') {
            add_prop(in, s, "");
            continue;
        }
        *sep = '\0';
        add_prop(in, s, trim(sep + 1));
    }
    fclose(f);
}

static void deadline_after(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static int before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static void init_cond(pthread_cond_t *cv)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
}

/* ---- registration --------------------------------------------------------------- */

static struct reg *load_and_register(int hot_reloading)
{
    struct reg *R = calloc(1, sizeof(struct reg));
    int (*cb_pre_register)(int);
    int (*cb_register)(struct flb_plugin_proxy_def *);
    int ret;

    if (H.dso == NULL) {
        H.dso = dlopen(H.plugin_path, RTLD_LAZY);
        if (H.dso == NULL) {
            die(2, "error opening plugin %s: '%s'", H.plugin_path, dlerror());
        }
    }
    cb_pre_register = (int (*)(int)) sym("FLBPluginPreRegister");
    if (cb_pre_register != NULL) {
        ret = cb_pre_register(hot_reloading);
        event("preregister ret=%d", ret);
        if (ret == -1) {
            die(2, "FLBPluginPreRegister returned -1");
        }
    }
    cb_register = (int (*)(struct flb_plugin_proxy_def *)) sym("FLBPluginRegister");
    if (cb_register == NULL) {
        die(2, "FLBPluginRegister not exported");
    }
    /* type 0, as flb_plugin_proxy_create; hosts before 5.1.1 allocate the
     * struct without config_map (-R 40) */
    R->def = calloc(1, H.def_size);
    ret = cb_register(R->def);
    event("register ret=%d type=%d proxy=%d flags=%d event_type=%d name=%s "
          "description=%s config_map=%s",
          ret, R->def->type, R->def->proxy, R->def->flags, R->def->event_type,
          R->def->name ? R->def->name : "(null)",
          R->def->description ? R->def->description : "(null)",
          !has_config_map() ? "absent" : R->def->config_map ? "set" : "null");
    if (ret == -1) {
        die(2, "FLBPluginRegister returned -1");
    }
    if (R->def->proxy != FLB_PROXY_GOLANG) {
        die(2, "plugin did not register as a Go proxy (proxy=%d)", R->def->proxy);
    }

    memset(&R->proxy, 0, sizeof(R->proxy));
    R->proxy.def = R->def;
    R->proxy.api = &H.api;
    R->proxy.dso_handler = H.dso;

    if (strcmp(H.mode, "input") == 0) {
        if (R->def->type != FLB_PROXY_INPUT_PLUGIN) {
            die(2, "plugin registered type %d, not an input", R->def->type);
        }
        memset(&R->in_plugin, 0, sizeof(R->in_plugin));
        R->in_plugin.cb_init = (int (*)(struct flbgo_input_plugin *)) sym("FLBPluginInit");
        if (R->in_plugin.cb_init == NULL) {
            die(2, "could not load FLBPluginInit symbol");
        }
        R->in_plugin.cb_collect = (int (*)(void **, size_t *)) sym("FLBPluginInputCallback");
        R->in_plugin.cb_collect_ctx = (int (*)(void *, void **, size_t *)) sym("FLBPluginInputCallbackCtx");
        R->in_plugin.cb_cleanup = (int (*)(void *)) sym("FLBPluginInputCleanupCallback");
        R->in_plugin.cb_cleanup_ctx = (int (*)(void *, void *)) sym("FLBPluginInputCleanupCallbackCtx");
        R->in_plugin.cb_exit = (int (*)(void)) sym("FLBPluginExit");
        R->in_plugin.name = R->def->name;
        R->proxy.data = &R->in_plugin;
        R->cb_pause = (void (*)(void)) sym("FLBPluginInputPause");
        R->cb_resume = (void (*)(void)) sym("FLBPluginInputResume");
        R->cb_pre_exit = (void (*)(int)) sym("FLBPluginInputPreExit");
        R->cb_pre_run = (int (*)(int)) sym("FLBPluginInputPreRun");
        if (R->in_plugin.cb_collect == NULL && R->in_plugin.cb_collect_ctx == NULL) {
            die(2, "plugin exports no input collect callback");
        }
        event("symbols collect=%s cleanup=%s pause=%d resume=%d preexit=%d exit=%d",
              R->in_plugin.cb_collect_ctx ? "ctx" : "plain",
              R->in_plugin.cb_cleanup_ctx ? "ctx" : R->in_plugin.cb_cleanup ? "plain" : "none",
              R->cb_pause != NULL, R->cb_resume != NULL, R->cb_pre_exit != NULL,
              R->in_plugin.cb_exit != NULL);
    }
    else {
        if (R->def->type != FLB_PROXY_OUTPUT_PLUGIN) {
            die(2, "plugin registered type %d, not an output", R->def->type);
        }
        memset(&R->out_plugin, 0, sizeof(R->out_plugin));
        R->out_plugin.cb_init = (int (*)(struct flbgo_output_plugin *)) sym("FLBPluginInit");
        if (R->out_plugin.cb_init == NULL) {
            die(2, "could not load FLBPluginInit symbol");
        }
        R->out_plugin.cb_flush = (int (*)(const void *, size_t, const char *)) sym("FLBPluginFlush");
        R->out_plugin.cb_flush_ctx = (int (*)(void *, const void *, size_t, char *)) sym("FLBPluginFlushCtx");
        R->out_plugin.cb_exit = (int (*)(void)) sym("FLBPluginExit");
        R->out_plugin.cb_exit_ctx = (int (*)(void *)) sym("FLBPluginExitCtx");
        R->out_plugin.name = R->def->name;
        R->proxy.data = &R->out_plugin;
        R->cb_pre_exit = (void (*)(int)) sym("FLBPluginOutputPreExit");
        R->cb_pre_run = (int (*)(int)) sym("FLBPluginOutputPreRun");
        if (R->out_plugin.cb_flush == NULL && R->out_plugin.cb_flush_ctx == NULL) {
            die(2, "plugin exports no flush callback");
        }
        event("symbols flush=%s exit=%s",
              R->out_plugin.cb_flush_ctx ? "ctx" : "plain",
              R->out_plugin.cb_exit_ctx ? "ctx" : R->out_plugin.cb_exit ? "plain" : "none");
    }
    return R;
}

/* Fluent Bit >= 5.1.1 checks every property against the plugin's config
 * map before init (flb_config_map_properties_check): an unknown key fails
 * the instance with this message. */
static int check_config_map(struct reg *R, struct instance *in)
{
    struct flb_config_map *map = host_config_map(R);

    if (map == NULL) {
        return 0;
    }
    for (int i = 0; i < in->nprops; i++) {
        int found = 0;
        for (struct flb_config_map *m = map; m->name != NULL && !found; m++) {
            found = strcasecmp(m->name, in->props[i].key) == 0;
        }
        if (!found) {
            log_print(FLB_LOG_ERROR, NULL, 0, "[config] %s: unknown configuration property '%s'",
                      R->def->name, in->props[i].key);
            event("config %d unknown=%s", in->idx, in->props[i].key);
            return -1;
        }
    }
    return 0;
}

static void unregister(struct reg *R)
{
    void (*cb_unregister)(struct flb_plugin_proxy_def *) =
        (void (*)(struct flb_plugin_proxy_def *)) sym("FLBPluginUnregister");
    if (cb_unregister != NULL) {
        cb_unregister(R->def);
        event("unregister");
    }
    /* Fluent Bit frees only the def itself, not the plugin's strings. */
    free(R->def);
    free(R);
}

/* ---- input instances --------------------------------------------------------------- */

static void collect_once(struct instance *in)
{
    struct reg *R = in->reg;
    struct flbgo_input_plugin *p = &R->in_plugin;
    void *data = NULL;
    size_t len = 0;
    int ret, freed;

    /* proxy_go_input_collect: the Ctx form wins when exported */
    if (p->cb_collect_ctx != NULL) {
        ret = p->cb_collect_ctx(in->in_ctx->remote_context, &data, &len);
    }
    else {
        ret = p->cb_collect(&data, &len);
    }
    /* flb_proxy_input_cb_collect: len 0 → nothing, not even cleanup */
    if (len == 0) {
        in->empty++;
        return;
    }
    if (ret == -1) {
        event("collect %d ret=-1 len=%zu leaked", in->idx, len);
        return;
    }
    /* flb_input_log_append copies the bytes (its result is ignored); while
     * the instance's ingestion is paused Fluent Bit drops them
     * (flb_input_chunk.c: "is paused, cannot append records"). */
    if (atomic_load(&in->ingestion_paused)) {
        in->dropped++;
        fwrite(data, 1, len, in->dropped_out);
        fflush(in->dropped_out);
        event("collect %d ret=%d len=%zu dropped", in->idx, ret, len);
    }
    else {
        in->buffers++;
        in->bytes += len;
        fwrite(data, 1, len, in->out);
        fflush(in->out);
        event("collect %d ret=%d len=%zu", in->idx, ret, len);
    }

    /* proxy_go_input_cleanup: Ctx, then plain, else libc free */
    track_begin(in->idx, data);
    if (p->cb_cleanup_ctx != NULL) {
        ret = p->cb_cleanup_ctx(in->in_ctx->remote_context, data);
    }
    else if (p->cb_cleanup != NULL) {
        ret = p->cb_cleanup(data);
    }
    else {
        ret = 0;
        free(data);
    }
    freed = track_end(in->idx) || unmapped(data);
    if (memtrack_on && !freed) {
        in->not_freed++;
    }
    event("cleanup %d ret=%d freed=%s", in->idx, ret,
          memtrack_on || freed ? (freed ? "yes" : "no") : "unknown");
}

/* What the instance thread does for a pause/resume message
 * (flb_proxy_input_cb_pause/resume): call the plugin, then pause/resume the
 * collector of proxy->instance, which is the LAST initialised instance, not
 * necessarily this one (Fluent Bit 5.1.1 behaviour, kept on purpose). */
static void do_pause(struct instance *in, int pause)
{
    struct reg *R = in->reg;
    struct instance *target = R->proxy.instance;

    if (pause) {
        if (R->cb_pause != NULL) {
            R->cb_pause();
        }
    }
    else if (R->cb_resume != NULL) {
        R->cb_resume();
    }
    if (target != NULL) {
        atomic_store(&target->collector_paused, pause);
    }
    event("%s %d collector_of=%d", pause ? "pause" : "resume", in->idx,
          target ? target->idx : -1);
}

static void *input_thread(void *arg)
{
    struct instance *in = arg;
    struct reg *R = in->reg;
    struct flbgo_input_plugin *p = &R->in_plugin;
    struct timespec next, now;
    int ret, running = 1;

    /* flb_proxy_input_cb_init + proxy_go_input_init, on the instance's own
     * thread; the plugin struct is shared and overwritten per instance. */
    R->proxy.instance = in;
    p->api = &H.api;
    p->i_ins = in;
    p->context = in->in_ctx;
    ret = check_config_map(R, in) == 0 ? p->cb_init(p) : -1;
    in->initialised = 1;

    pthread_mutex_lock(&in->mu);
    in->init_ret = ret;
    in->init_done = 1;
    pthread_cond_broadcast(&in->cv);
    pthread_mutex_unlock(&in->mu);
    if (ret <= 0) {
        return NULL;
    }
    in->in_ctx->coll_fd = 0; /* collector id, as flb_input_set_collector_time */
    if (R->cb_pre_run != NULL) {
        event("prerun %d ret=%d", in->idx, R->cb_pre_run(0));
    }

    deadline_after(&next, H.period_ms);
    while (running) {
        enum cmd cmd;
        int seq;

        pthread_mutex_lock(&in->mu);
        while (in->cmd == CMD_NONE) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (!before(&now, &next)) {
                break;
            }
            pthread_cond_timedwait(&in->cv, &in->mu, &next);
        }
        cmd = in->cmd;
        seq = in->cmd_seq;
        in->cmd = CMD_NONE;
        pthread_mutex_unlock(&in->mu);

        switch (cmd) {
        case CMD_PAUSE:
            do_pause(in, 1);
            break;
        case CMD_RESUME:
            do_pause(in, 0);
            break;
        case CMD_EXIT:
            /* flb_proxy_input_cb_exit: PreExit, then the plain Exit
             * (inputs have no ExitCtx) */
            if (R->cb_pre_exit != NULL) {
                R->cb_pre_exit(in->hot_reload);
                event("preexit %d", in->idx);
            }
            if (p->cb_exit != NULL) {
                ret = p->cb_exit();
                event("exit %d ret=%d", in->idx, ret);
            }
            running = 0;
            break;
        case CMD_NONE:
            /* the timer fired */
            if (!atomic_load(&in->collector_paused)) {
                collect_once(in);
                pthread_mutex_lock(&in->mu);
                in->collects++;
                pthread_cond_broadcast(&in->cv); /* wakes "wait" */
                pthread_mutex_unlock(&in->mu);
            }
            deadline_after(&next, H.period_ms);
            continue;
        }
        pthread_mutex_lock(&in->mu);
        in->done_seq = seq;
        pthread_cond_broadcast(&in->cv);
        pthread_mutex_unlock(&in->mu);
    }
    return NULL;
}

/* Sends a command to an instance thread and waits until it has run. */
static void send_cmd(struct instance *in, enum cmd cmd)
{
    int seq;

    if (!in->thread_started || in->exited) {
        return;
    }
    pthread_mutex_lock(&in->mu);
    seq = ++in->cmd_seq;
    in->cmd = cmd;
    pthread_cond_broadcast(&in->cv);
    while (in->done_seq < seq) {
        pthread_cond_wait(&in->cv, &in->mu);
    }
    pthread_mutex_unlock(&in->mu);
    if (cmd == CMD_EXIT) {
        pthread_join(in->th, NULL);
        in->exited = 1;
    }
}

/* Fluent Bit initialises instances one after the other, each in its own
 * thread, waiting for one init to finish before starting the next. */
static int start_inputs(struct reg *R)
{
    for (int i = 0; i < H.ninst; i++) {
        struct instance *in = &H.inst[i];
        char path[PATH_MAX];

        snprintf(path, sizeof(path), "%s/%s.msgpack", H.out_dir, in->name);
        in->out = fopen(path, "ab");
        snprintf(path, sizeof(path), "%s/%s.dropped.msgpack", H.out_dir, in->name);
        in->dropped_out = fopen(path, "ab");
        if (in->out == NULL || in->dropped_out == NULL) {
            die(1, "cannot open output files in %s: %s", H.out_dir, strerror(errno));
        }
        /* flb_input_new: a calloc'd context with only ->proxy set */
        in->in_ctx = calloc(1, sizeof(*in->in_ctx));
        in->in_ctx->proxy = &R->proxy;
        in->reg = R;
        in->exited = 0;
        in->init_done = 0;
        in->initialised = 0;
        in->hot_reload = 0;
        atomic_store(&in->collector_paused, 0);
        atomic_store(&in->ingestion_paused, 0);
        if (pthread_create(&in->th, NULL, input_thread, in) != 0) {
            die(1, "pthread_create failed");
        }
        in->thread_started = 1;
        pthread_mutex_lock(&in->mu);
        while (!in->init_done) {
            pthread_cond_wait(&in->cv, &in->mu);
        }
        pthread_mutex_unlock(&in->mu);
        event("init %d ret=%d", i, in->init_ret);
        if (in->init_ret <= 0) {
            pthread_join(in->th, NULL);
            in->exited = 1;
            return -1;
        }
    }
    return 0;
}

/* Shutdown as Fluent Bit does it: pause every input (flb_input_pause_all),
 * then exit them one by one (PreExit + Exit on each instance thread). */
static void stop_inputs(int hot_reload)
{
    for (int i = 0; i < H.ninst; i++) {
        struct instance *in = &H.inst[i];
        if (in->thread_started && !in->exited && !atomic_load(&in->ingestion_paused)) {
            atomic_store(&in->ingestion_paused, 1);
            send_cmd(in, CMD_PAUSE);
        }
    }
    for (int i = 0; i < H.ninst; i++) {
        struct instance *in = &H.inst[i];
        if (!in->thread_started) {
            continue;
        }
        in->hot_reload = hot_reload;
        send_cmd(in, CMD_EXIT);
        event("summary %d collects=%ld empty=%ld buffers=%ld bytes=%llu dropped=%ld "
              "not_freed=%ld", i, in->collects, in->empty, in->buffers, in->bytes,
              in->dropped, in->not_freed);
        print_metrics(in);
        fclose(in->out);
        fclose(in->dropped_out);
        in->out = in->dropped_out = NULL;
        free(in->in_ctx);
        in->in_ctx = NULL;
        in->thread_started = 0;
        in->collects = in->empty = in->buffers = in->dropped = in->not_freed = 0;
        in->bytes = 0;
    }
}

/* Waits until instance i has made n more collect calls (empty ones too). */
static int wait_collects(struct instance *in, long n)
{
    struct timespec dl;
    long target;
    int rc = 0;

    deadline_after(&dl, 30000 + n * H.period_ms);
    pthread_mutex_lock(&in->mu);
    target = in->collects + n;
    while (in->collects < target && rc == 0) {
        rc = pthread_cond_timedwait(&in->cv, &in->mu, &dl);
    }
    rc = in->collects >= target ? 0 : -1;
    pthread_mutex_unlock(&in->mu);
    return rc;
}

/* ---- output instances ------------------------------------------------------------ */

/* flb_proxy_output_cb_init + proxy_go_output_init, one instance at a time
 * on the caller's thread (the engine thread in Fluent Bit). */
static int start_outputs(struct reg *R)
{
    for (int i = 0; i < H.ninst; i++) {
        struct instance *in = &H.inst[i];
        int ret;

        in->out_ctx = calloc(1, sizeof(*in->out_ctx));
        in->out_ctx->proxy = &R->proxy;
        in->initialised = 0;
        in->reg = R;
        R->proxy.instance = in;
        R->out_plugin.api = &H.api;
        R->out_plugin.o_ins = in;
        R->out_plugin.context = in->out_ctx;
        ret = check_config_map(R, in) == 0 ? R->out_plugin.cb_init(&R->out_plugin) : -1;
        in->initialised = 1;
        event("init %d ret=%d", i, ret);
        in->thread_started = 1; /* "started": exit callbacks are due */
        if (ret <= 0) {
            return -1;
        }
        if (R->cb_pre_run != NULL) {
            event("prerun %d ret=%d", i, R->cb_pre_run(0));
        }
    }
    return 0;
}

static void flush_file(struct instance *in, const char *path, const char *tag)
{
    struct reg *R = in->reg;
    FILE *f = fopen(path, "rb");
    long size;
    void *data;
    char *tagbuf;
    int ret;

    if (f == NULL) {
        event("error cannot open %s: %s", path, strerror(errno));
        return;
    }
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);
    /* Fresh heap copies, freed right after the call: data and tag are valid
     * only during the flush, and valgrind flags a plugin that keeps them. */
    data = malloc(size > 0 ? size : 1);
    if (size > 0 && fread(data, 1, size, f) != (size_t) size) {
        event("error short read on %s", path);
        fclose(f);
        free(data);
        return;
    }
    fclose(f);
    tagbuf = strdup(tag);
    if (R->out_plugin.cb_flush_ctx != NULL) {
        ret = R->out_plugin.cb_flush_ctx(in->out_ctx->remote_context, data, (size_t) size, tagbuf);
    }
    else {
        ret = R->out_plugin.cb_flush(data, (size_t) size, tagbuf);
    }
    free(tagbuf);
    free(data);
    /* proxy_cb_flush: anything but OK/RETRY/ERROR counts as ERROR */
    event("flush %d ret=%d result=%s bytes=%ld", in->idx, ret,
          ret == FLB_OK ? "OK" : ret == FLB_RETRY ? "RETRY" : "ERROR", size);
}

/* flb_proxy_output_cb_exit for each instance: PreExit, then ExitCtx (or
 * the plain Exit when ExitCtx is not exported). */
static void stop_outputs(int hot_reload)
{
    for (int i = 0; i < H.ninst; i++) {
        struct instance *in = &H.inst[i];
        struct reg *R = in->reg;
        int ret;

        if (!in->thread_started) {
            continue;
        }
        if (R->cb_pre_exit != NULL) {
            R->cb_pre_exit(hot_reload);
            event("preexit %d", i);
        }
        if (R->out_plugin.cb_exit_ctx != NULL) {
            ret = R->out_plugin.cb_exit_ctx(in->out_ctx->remote_context);
            event("exit %d ret=%d", i, ret);
        }
        else if (R->out_plugin.cb_exit != NULL) {
            ret = R->out_plugin.cb_exit();
            event("exit %d ret=%d", i, ret);
        }
        print_metrics(in);
        free(in->out_ctx);
        in->out_ctx = NULL;
        in->thread_started = 0;
    }
}

/* ---- command loop ------------------------------------------------------------------ */

static int is_input(void)
{
    return strcmp(H.mode, "input") == 0;
}

static int start_all(struct reg *R)
{
    return is_input() ? start_inputs(R) : start_outputs(R);
}

static void stop_all(int hot_reload)
{
    if (is_input()) {
        stop_inputs(hot_reload);
    }
    else {
        stop_outputs(hot_reload);
    }
}

static struct instance *inst_arg(const char *s)
{
    char *end;
    long i;

    if (s == NULL) {
        return NULL;
    }
    i = strtol(s, &end, 10);
    if (*end != '\0' || i < 0 || i >= H.ninst) {
        return NULL;
    }
    return &H.inst[i];
}

static const char *default_tag(void)
{
    return H.tag != NULL ? H.tag : "flbhost";
}

static void run_commands(FILE *f)
{
    char line[4096];

    while (fgets(line, sizeof(line), f) != NULL) {
        char *save = NULL;
        char *cmd = strtok_r(line, " \t\r\n", &save);
        char *a1 = strtok_r(NULL, " \t\r\n", &save);
        char *a2 = strtok_r(NULL, " \t\r\n", &save);
        char *a3 = strtok_r(NULL, " \t\r\n", &save);
        struct instance *in = inst_arg(a1);

        if (cmd == NULL || cmd[0] == '#') {
            continue;
        }
        if (strcmp(cmd, "exit") == 0) {
            return;
        }
        else if (strcmp(cmd, "sleep") == 0 && a1 != NULL) {
            usleep((useconds_t) strtol(a1, NULL, 10) * 1000);
        }
        else if (is_input() && strcmp(cmd, "pause") == 0 && in != NULL) {
            /* Fluent Bit marks the instance paused before signalling its
             * thread, so appends are dropped from this point on. */
            atomic_store(&in->ingestion_paused, 1);
            send_cmd(in, CMD_PAUSE);
        }
        else if (is_input() && strcmp(cmd, "resume") == 0 && in != NULL) {
            atomic_store(&in->ingestion_paused, 0);
            send_cmd(in, CMD_RESUME);
        }
        else if (is_input() && strcmp(cmd, "wait") == 0 && in != NULL && a2 != NULL) {
            if (wait_collects(in, strtol(a2, NULL, 10)) != 0) {
                event("error wait %d timed out", in->idx);
                continue;
            }
        }
        else if (!is_input() && strcmp(cmd, "flush") == 0 && in != NULL && a2 != NULL) {
            flush_file(in, a2, a3 != NULL ? a3 : default_tag());
        }
        else if (strcmp(cmd, "reload") == 0) {
            /* flb_reload: the new context registers while the old instances
             * still run; then the old ones stop (PreExit(1)) and the old
             * registration is unregistered; then the new instances start. */
            struct reg *old = H.R;
            H.R = load_and_register(1);
            stop_all(1);
            unregister(old);
            if (start_all(H.R) != 0) {
                H.failed = 1;
                return;
            }
        }
        else {
            event("error bad command '%s'", cmd);
            continue;
        }
        event("ok %s", cmd);
    }
}

static void usage(void)
{
    fputs("usage: flbhost input  -e PLUGIN.so [-o OUTDIR] [-P PERIOD_MS] [-s SCRIPT] [-R DEF_SIZE] [-M on] [-C off]\n"
          "                      (-i NAME [-p key=value]... [-f PROPS_FILE]...)...\n"
          "       flbhost output -e PLUGIN.so [-d DATA.msgpack] [-t TAG] [-s SCRIPT] [-R DEF_SIZE] [-M on] [-C off]\n"
          "                      (-i NAME [-p key=value]... [-f PROPS_FILE]...)...\n"
          "Commands come from SCRIPT, else stdin; EOF means exit.\n"
          "See test/host/README.md.\n",
          stderr);
    exit(1);
}

int main(int argc, char **argv)
{
    struct instance *cur = NULL;
    int status = 0;

    if (argc < 2) {
        usage();
    }
    H.mode = argv[1];
    if (strcmp(H.mode, "input") != 0 && strcmp(H.mode, "output") != 0) {
        usage();
    }
    H.out_dir = ".";
    H.def_size = sizeof(struct flb_plugin_proxy_def);
    H.period_ms = 1000; /* PROXY_CALLBACK_TIME */
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (o[0] != '-' || o[1] == '\0' || o[2] != '\0' || v == NULL) {
            usage();
        }
        i++;
        switch (o[1]) {
        case 'e': H.plugin_path = v; break;
        case 'o': H.out_dir = v; break;
        case 'P': H.period_ms = strtol(v, NULL, 10); break;
        case 'd': H.data_file = v; break;
        case 't': H.tag = v; break;
        case 's': H.script = v; break;
        case 'R': H.def_size = (size_t) strtoul(v, NULL, 10); break;
        case 'M': H.metrics = strcmp(v, "on") == 0; break;
        case 'C': H.ignore_map = strcmp(v, "off") == 0; break;
        case 'i':
            if (H.ninst == MAX_INSTANCES) {
                die(1, "at most %d instances", MAX_INSTANCES);
            }
            cur = &H.inst[H.ninst];
            cur->idx = H.ninst++;
            cur->log_level = FLB_LOG_INFO;
            snprintf(cur->name, sizeof(cur->name), "%s", v);
            pthread_mutex_init(&cur->mu, NULL);
            init_cond(&cur->cv);
            break;
        case 'p':
        case 'f':
            if (cur == NULL) {
                die(1, "%s before any -i", o);
            }
            if (o[1] == 'p') {
                add_prop_arg(cur, v);
            }
            else {
                add_prop_file(cur, v);
            }
            break;
        default:
            usage();
        }
    }
    if (H.plugin_path == NULL || H.ninst == 0 || H.period_ms <= 0 ||
        H.def_size < offsetof(struct flb_plugin_proxy_def, config_map)) {
        usage();
    }

    H.api.output_get_property = output_get_property;
    H.api.input_get_property = input_get_property;
    H.api.output_get_cmt_instance = get_cmt;
    H.api.input_get_cmt_instance = get_cmt;
    H.api.log_print = log_print;
    H.api.input_log_check = log_check;
    H.api.output_log_check = log_check;
    H.api.custom_get_property = input_get_property;
    H.api.custom_log_check = log_check;

    memtrack_selftest();
    event("memtrack %s", memtrack_on ? "on" : "off");

    H.R = load_and_register(0);
    if (start_all(H.R) != 0) {
        H.failed = 1;
    }
    else {
        if (H.data_file != NULL && !is_input()) {
            for (int i = 0; i < H.ninst; i++) {
                flush_file(&H.inst[i], H.data_file, default_tag());
            }
        }
        if (H.script != NULL) {
            FILE *f = fopen(H.script, "r");
            if (f == NULL) {
                die(1, "cannot open script %s: %s", H.script, strerror(errno));
            }
            run_commands(f);
            fclose(f);
        }
        else {
            run_commands(stdin);
        }
    }
    stop_all(0);
    unregister(H.R);
    /* Fluent Bit dlcloses too; Go libraries are -z nodelete, a no-op. */
    dlclose(H.dso);
    for (int i = 0; i < H.ninst; i++) {
        for (int j = 0; j < H.inst[i].nprops; j++) {
            free(H.inst[i].props[j].key);
            free(H.inst[i].props[j].val);
        }
        free(H.inst[i].props);
    }
    if (H.failed) {
        status = 3;
    }
    event("done status=%d", status);
    return status;
}
