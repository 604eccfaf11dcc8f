/* cli.c - what the tools share: the program's name, messages and exits
 * (lr_die, lr_usage_error), option parsing, atomic output, progress.  The
 * library's own helpers (allocation, errors, files, time) are in base.c. */
#define _GNU_SOURCE 1   /* O_TMPFILE */
#include "config.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *progname = "lr";

void lr_cli_init(const char *argv0)
{
    const char *slash = argv0 ? strrchr(argv0, '/') : NULL;
    progname = slash ? slash + 1 : (argv0 ? argv0 : "lr");
    /* libtool wrappers run the real binary as lt-NAME */
    if (strncmp(progname, "lt-", 3) == 0) progname += 3;
}

const char *lr_progname(void) { return progname; }

static void vmessage(const char *fmt, va_list ap, const char *tail)
{
    char buf[2048];
    vsnprintf(buf, sizeof buf, fmt, ap);
    /* one line: fold any newline a message picked up from its input */
    for (char *c = buf; *c; c++)
        if (*c == '\n' || *c == '\r') *c = ' ';
    fprintf(stderr, "%s: %s%s\n", progname, buf, tail);
}

void lr_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (lr_dist_size() > 1) {
        char buf[2048];
        vsnprintf(buf, sizeof buf, fmt, ap);
        for (char *c = buf; *c; c++)
            if (*c == '\n' || *c == '\r') *c = ' ';
        lr_dist_die(buf);
    }
    vmessage(fmt, ap, "");
    va_end(ap);
    exit(1);
}

void lr_usage_error(const char *fmt, ...)
{
    if (lr_dist_rank() > 0) exit(2);   /* every rank has the same arguments: rank 0 says it */
    va_list ap;
    va_start(ap, fmt);
    char tail[256];
    snprintf(tail, sizeof tail, "; try '%s --help'", progname);
    vmessage(fmt, ap, tail);
    va_end(ap);
    exit(2);
}

int lr_getopt(int argc, char *const *argv, const char *shortopts, const struct option *longopts)
{
    opterr = 0;
    int c = getopt_long(argc, argv, shortopts, longopts, NULL);
    if (c != '?') return c;
    const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "";
    if (strncmp(arg, "--", 2) == 0 && arg[2]) {
        /* a long option: find it as getopt_long does (exact name or unique prefix) */
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t n = eq ? (size_t)(eq - name) : strlen(name);
        const struct option *hit = NULL;
        int matches = 0;
        for (const struct option *o = longopts; o && o->name; o++)
            if (strncmp(o->name, name, n) == 0) {
                if (strlen(o->name) == n) {
                    hit = o;
                    matches = 1;
                    break;
                }
                hit = o;
                matches++;
            }
        if (matches > 1) lr_usage_error("option '--%.*s' is ambiguous", (int)n, name);
        if (!hit) lr_usage_error("unknown option '--%.*s'", (int)n, name);
        if (eq && hit->has_arg == no_argument)
            lr_usage_error("option '--%s' takes no argument", hit->name);
        lr_usage_error("option '--%s' needs an argument", hit->name);
    }
    if (optopt > 0 && optopt != ':' && strchr(shortopts, optopt))
        lr_usage_error("option '-%c' needs an argument", optopt);
    if (optopt > 32 && optopt < 127) lr_usage_error("unknown option '-%c'", optopt);
    lr_usage_error("unknown option '%s'", arg);
}

void lr_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(fmt, ap, "");
    va_end(ap);
}

void lr_print_version(void)
{
    printf("%s (lr) %s\n", progname, PACKAGE_VERSION);
    exit(0);
}

long lr_parse_long(const char *opt, const char *s, long min, long max)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end)
        lr_usage_error("%s: '%s' is not an integer", opt, s);
    if (v < min || v > max)
        lr_usage_error("%s: %ld is out of range [%ld, %ld]", opt, v, min, max);
    return v;
}

double lr_parse_double(const char *opt, const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v))
        lr_usage_error("%s: '%s' is not a finite number", opt, s);
    return v;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int lr_parse_int_list(const char *opt, const char *s, int max, int **out)
{
    size_t cap = 16;
    int n = 0;
    int *v = lr_xmalloc(cap * sizeof *v);
    const char *p = s;
    if (!*p) lr_usage_error("%s: empty list", opt);
    while (*p) {
        char *end;
        errno = 0;
        long a = strtol(p, &end, 10), b;
        if (end == p || errno) lr_usage_error("%s: '%s' is not a list of integers", opt, s);
        b = a;
        p = end;
        if (*p == '-') {
            p++;
            b = strtol(p, &end, 10);
            if (end == p || errno) lr_usage_error("%s: bad range in '%s'", opt, s);
            p = end;
        }
        if (a > b) lr_usage_error("%s: range %ld-%ld is reversed", opt, a, b);
        if (a < 0 || b >= max)
            lr_usage_error("%s: index %ld out of range [0, %d)", opt, a < 0 ? a : b, max);
        for (long i = a; i <= b; i++) {
            v = lr_grow(v, &cap, (size_t)n + 1, sizeof *v);
            v[n++] = (int)i;
        }
        if (*p == ',') {
            p++;
            if (!*p) lr_usage_error("%s: trailing comma in '%s'", opt, s);
        } else if (*p)
            lr_usage_error("%s: unexpected '%c' in '%s'", opt, *p, s);
    }
    qsort(v, n, sizeof *v, cmp_int);
    int m = 0;
    for (int i = 0; i < n; i++)
        if (m == 0 || v[m - 1] != v[i]) v[m++] = v[i];
    *out = v;
    return m;
}

void lr_parse_shard(const char *opt, const char *s, int *index, int *count)
{
    char *end;
    long i = strtol(s, &end, 10);
    if (end == s || *end != '/') lr_usage_error("%s: expected I/N, got '%s'", opt, s);
    const char *q = end + 1;
    long n = strtol(q, &end, 10);
    if (end == q || *end || n < 1 || i < 0 || i >= n)
        lr_usage_error("%s: expected I/N with 0 <= I < N, got '%s'", opt, s);
    *index = (int)i;
    *count = (int)n;
}

/* ---------------- atomic output ---------------- */

/* A regular-file output is written unnamed (O_TMPFILE) and linked into
 * place at commit, so nothing is left if the process dies, even by
 * SIGKILL.  Where the file system cannot, it is written under a hidden
 * temporary name beside the output, removed at exit and on SIGINT, SIGTERM,
 * SIGHUP and SIGPIPE. */
static bool use_tmpfile = true;
void lr_out_use_tmpfile(bool on) { use_tmpfile = on; }   /* tests: force the named fallback */

/* Named temporaries not yet committed (fixed array: read by the handler). */
static char *volatile pending[16];

static void remove_pending(void)
{
    for (size_t i = 0; i < LR_ARRAY_LEN(pending); i++)
        if (pending[i]) unlink(pending[i]);
}

static void on_signal(int sig)
{
    remove_pending();   /* unlink is async-signal-safe */
    signal(sig, SIG_DFL);
    raise(sig);
}

static void add_pending(char *tmppath)
{
    static bool registered;
    if (!registered) {
        atexit(remove_pending);
        static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};
        for (size_t i = 0; i < LR_ARRAY_LEN(sigs); i++) {
            struct sigaction old, sa = {0};
            sigaction(sigs[i], NULL, &old);
            if (old.sa_handler != SIG_DFL) continue;   /* ignored or handled by the program */
            sa.sa_handler = on_signal;
            sigemptyset(&sa.sa_mask);
            sigaction(sigs[i], &sa, NULL);
        }
        registered = true;
    }
    for (size_t i = 0; i < LR_ARRAY_LEN(pending); i++)
        if (!pending[i]) {
            pending[i] = tmppath;
            return;
        }
}

static void forget_pending(const char *tmppath)
{
    for (size_t i = 0; i < LR_ARRAY_LEN(pending); i++)
        if (pending[i] == tmppath) pending[i] = NULL;
}

/* The file a path names once symbolic links are followed (the link's
 * target is written, the link kept), even when the target does not exist
 * yet; malloc'ed. */
static char *resolve_links(const char *path)
{
    char *cur = lr_xstrdup(path);
    for (int hops = 0; hops < 40; hops++) {
        struct stat st;
        if (lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode)) return cur;
        char target[PATH_MAX];
        ssize_t n = readlink(cur, target, sizeof target - 1);
        if (n < 0) return cur;
        target[n] = 0;
        char *next;
        const char *slash = strrchr(cur, '/');
        if (target[0] == '/' || !slash) {
            next = lr_xstrdup(target);
        } else {
            size_t dl = (size_t)(slash - cur) + 1;
            next = lr_xmalloc(dl + (size_t)n + 1);
            memcpy(next, cur, dl);
            memcpy(next + dl, target, (size_t)n + 1);
        }
        free(cur);
        cur = next;
    }
    return cur;
}

/* "DIR/.NAME.XXXXXX" for path "DIR/NAME" (or ".NAME.XXXXXX"). */
static char *temp_name(const char *path)
{
    size_t n = strlen(path) + 32;
    char *t = lr_xmalloc(n);
    const char *slash = strrchr(path, '/');
    if (slash)
        snprintf(t, n, "%.*s/.%s.XXXXXX", (int)(slash - path), path, slash + 1);
    else
        snprintf(t, n, ".%s.XXXXXX", path);
    return t;
}

lr_out *lr_out_open(const char *path, lr_error *err)
{
    lr_out *o = lr_xcalloc(1, sizeof *o);
    if (!path || strcmp(path, "-") == 0) {
        o->fp = stdout;
        return o;
    }
    o->path = resolve_links(path);
    /* A device or pipe (-o /dev/null) is written in place: renaming a
     * temporary over it would replace the device with a file. */
    struct stat st;
    if (stat(o->path, &st) == 0 && !S_ISREG(st.st_mode)) {
        o->fp = fopen(o->path, "wb");
        if (!o->fp) {
            lr_errorf(err, "%s: %s", path, strerror(errno));
            free(o->path), free(o);
            return NULL;
        }
        return o;
    }
    int fd = -1;
#ifdef O_TMPFILE
    if (use_tmpfile) {
        const char *slash = strrchr(o->path, '/');
        char *dir = slash ? strndup(o->path, slash == o->path ? 1 : (size_t)(slash - o->path)) : lr_xstrdup(".");
        if (!dir) lr_die("out of memory");
        fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
        free(dir);
        if (fd >= 0) o->unnamed = true;
    }
#endif
    if (fd < 0) {
        o->tmppath = temp_name(o->path);
        fd = mkstemp(o->tmppath);
        if (fd < 0) {
            lr_errorf(err, "%s: cannot create temporary file: %s", path, strerror(errno));
            free(o->path), free(o->tmppath), free(o);
            return NULL;
        }
        add_pending(o->tmppath);
        fchmod(fd, 0644 & ~umask(umask(0)));
    }
    o->fp = fdopen(fd, "wb");
    if (!o->fp) lr_die("out of memory");
    return o;
}

/* Give the unnamed file its name: link it straight to a new path, or
 * under a temporary name renamed over an existing one. */
static int link_unnamed(lr_out *o, lr_error *err)
{
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fileno(o->fp));
    if (linkat(AT_FDCWD, proc, AT_FDCWD, o->path, AT_SYMLINK_FOLLOW) == 0) return 0;
    if (errno != EEXIST) return lr_errorf(err, "%s: cannot create: %s", o->path, strerror(errno));
    for (int tries = 0; tries < 100; tries++) {
        char *tmp = temp_name(o->path);
        int fd = mkstemp(tmp);   /* a free name; replaced by the link */
        if (fd < 0) {
            int e = errno;
            free(tmp);
            return lr_errorf(err, "%s: cannot create temporary file: %s", o->path, strerror(e));
        }
        close(fd);
        unlink(tmp);
        if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) != 0) {
            int e = errno;
            free(tmp);
            if (e == EEXIST) continue;
            return lr_errorf(err, "%s: cannot create temporary file: %s", o->path, strerror(e));
        }
        int rc = 0;
        if (rename(tmp, o->path) != 0) {
            rc = lr_errorf(err, "%s: cannot replace: %s", o->path, strerror(errno));
            unlink(tmp);
        }
        free(tmp);
        return rc;
    }
    return lr_errorf(err, "%s: cannot find a free temporary name", o->path);
}

int lr_out_commit(lr_out *o, lr_error *err)
{
    int rc = 0;
    if (!o) return 0;
    if (!o->tmppath && !o->unnamed) {
        if (fflush(o->fp) != 0 || ferror(o->fp))
            rc = lr_errorf(err, "%s: write error: %s", o->path ? o->path : "standard output", strerror(errno));
        if (o->path && fclose(o->fp) != 0 && !rc)
            rc = lr_errorf(err, "%s: write error: %s", o->path, strerror(errno));
        free(o->path), free(o);
        return rc;
    }
    if (fflush(o->fp) != 0 || ferror(o->fp) || fsync(fileno(o->fp)) != 0)
        rc = lr_errorf(err, "%s: write error: %s", o->path, strerror(errno));
    else if (o->unnamed)
        rc = link_unnamed(o, err);
    if (fclose(o->fp) != 0 && !rc) rc = lr_errorf(err, "%s: write error: %s", o->path, strerror(errno));
    if (o->tmppath) {
        if (!rc && rename(o->tmppath, o->path) != 0)
            rc = lr_errorf(err, "%s: cannot rename temporary file: %s", o->path, strerror(errno));
        if (rc) unlink(o->tmppath);
        forget_pending(o->tmppath);
    }
    free(o->path), free(o->tmppath), free(o);
    return rc;
}

void lr_out_abort(lr_out *o)
{
    if (!o) return;
    if (o->tmppath) {
        fclose(o->fp);
        unlink(o->tmppath);
        forget_pending(o->tmppath);
    } else if (o->path) {
        fclose(o->fp);   /* unnamed: closing discards it */
    } else {
        fflush(o->fp);
    }
    free(o->path), free(o->tmppath), free(o);
}

void lr_refuse_binary_tty(const char *path, const char *what)
{
    if ((!path || strcmp(path, "-") == 0) && isatty(STDOUT_FILENO))
        lr_usage_error("refusing to write %s to a terminal: redirect standard output or use "
                       "-o FILE", what);
}

/* ---------------- progress ---------------- */

struct lr_progress {
    char what[64];
    int64_t total, items, tokens;
    double start, last;
    bool quiet, tty;
    char note[128];
};

lr_progress *lr_progress_new(const char *what, int64_t total, bool quiet)
{
    lr_progress *p = lr_xcalloc(1, sizeof *p);
    snprintf(p->what, sizeof p->what, "%s", what);
    p->total = total;
    p->quiet = quiet;
    p->tty = isatty(2);
    p->start = p->last = lr_now();
    return p;
}

static void fmt_duration(char *buf, size_t n, double s)
{
    if (!isfinite(s) || s < 0) {
        snprintf(buf, n, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, n, "%02ld:%02ld", t / 60, t % 60);
}

static void progress_print(lr_progress *p, bool final)
{
    double el = lr_now() - p->start;
    double rate = el > 0 ? p->items / el : 0, trate = el > 0 ? p->tokens / el : 0;
    char eta[32], elapsed[32], toks[64] = "";
    fmt_duration(elapsed, sizeof eta, el);
    fmt_duration(eta, sizeof eta, p->total > 0 && rate > 0 ? (p->total - p->items) / rate : NAN);
    if (p->tokens) snprintf(toks, sizeof toks, ", %.0f tok/s", trate);
    if (p->tty && !final) {
        char bar[31] = "";
        if (p->total > 0) {
            int fill = (int)(30.0 * p->items / p->total);
            for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
            bar[30] = 0;
        }
        fprintf(stderr, "\r%s [%s] %lld/%lld (%.1f/s%s) %s ETA %s %s\033[K", p->what, bar,
                (long long)p->items, (long long)p->total, rate, toks, elapsed, eta, p->note);
    } else if (p->total > 0) {
        fprintf(stderr, "%s%s: %lld/%lld (%.1f/s%s) elapsed %s ETA %s %s\n", p->tty ? "\r" : "",
                p->what, (long long)p->items, (long long)p->total, rate, toks, elapsed,
                final ? "00:00" : eta, p->note);
    } else {
        fprintf(stderr, "%s%s: %lld (%.1f/s%s) elapsed %s %s\n", p->tty ? "\r" : "", p->what,
                (long long)p->items, rate, toks, elapsed, p->note);
    }
}

void lr_progress_add(lr_progress *p, int64_t items, int64_t tokens)
{
    if (!p) return;
    p->items += items;
    p->tokens += tokens;
    if (p->quiet) return;
    double now = lr_now();
    if (now - p->last >= (p->tty ? 0.2 : 10.0)) {
        p->last = now;
        progress_print(p, false);
    }
}

void lr_progress_note(lr_progress *p, const char *fmt, ...)
{
    if (!p) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->note, sizeof p->note, fmt, ap);
    va_end(ap);
}

void lr_progress_done(lr_progress *p)
{
    if (!p) return;
    if (!p->quiet) progress_print(p, true);
    free(p);
}
