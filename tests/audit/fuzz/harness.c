/* The compiled audit verifier's parsers under AddressSanitizer and UBSan.
 *
 * Includes spe/audit/_native.c without its Python module and feeds it untrusted input the
 * way a hostile database would: the first byte chooses the path.
 *   0: a PostgreSQL COPY BINARY stream, as CopyData messages (each a 4-byte big-endian
 *      length and its bytes), for leaves [0, 4): pg_message, pg_row, check_row;
 *   1: a SQLite database file (the rest of the input), verified as leaves [0, 4): the
 *      defensive open, sqlite_leaves, sqlite_row, check_row and the subtree comparison.
 * Built with -DSPE_LIBFUZZER it is a libFuzzer target (clang -fsanitize=fuzzer); otherwise
 * main() runs files (`run FILE...`) or mutates a corpus for a time (`fuzz SECONDS SEED DIR`).
 * The SQLite queries come from the environment (SPE_FUZZ_LEAVES_SQL, SPE_FUZZ_NODES_SQL:
 * spe.audit.scan.native_queries), so the harness reads what the verifier reads.
 * tests/audit/test_fuzz.py builds and runs it.
 */
#define _POSIX_C_SOURCE 200809L
#define SPE_AUDIT_NO_PYTHON
#include "_native.c"

#include <dirent.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define RANGE_END 4
static const char CUTOFF[] = "2025-01-01T00:00:00.000000Z";

static void init(state *st) {
    memset(st, 0, sizeof *st);
    st->end = RANGE_END;
    st->cutoff.p = (const unsigned char *)CUTOFF;
    st->cutoff.n = sizeof CUTOFF - 1;
    st->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    st->ctx = EVP_MD_CTX_new();
    st->hashes = malloc(RANGE_END * HASH); /* exactly the range: ASan sees one byte past */
}

static void release(state *st) {
    free(st->hashes);
    free(st->gaps);
    free(st->body.p);
    free(st->ts.p);
    free(st->ets.p);
    EVP_MD_CTX_free(st->ctx);
    EVP_MD_free(st->md);
}

static void report(state *st, int ok, int verbose) {
    if (!verbose)
        return;
    if (!ok)
        printf("error: %s\n", st->error);
    else if (st->has_problem)
        printf("problem %lld: %s\n", (long long)st->problem_seq, st->problem);
    else
        printf("ok %lld\n", (long long)(st->expect - st->start));
}

static void run_copy(const uint8_t *data, size_t size, int verbose) {
    state st;
    init(&st);
    int header_seen = 0, done = 0, ok = 1;
    size_t at = 0;
    while (ok && !st.has_problem && !done && size - at >= 4) {
        size_t n = (size_t)get_be(data + at, 4);
        at += 4;
        if (n > size - at)
            n = size - at;
        unsigned char *message = malloc(n ? n : 1); /* its own block: over-reads show */
        memcpy(message, data + at, n);
        at += n;
        int read = pg_message(&st, message, (int64_t)n, &header_seen, &done);
        free(message);
        if (read <= 0) {
            snprintf(st.error, MESSAGE, "unexpected COPY data from the server");
            ok = 0;
        }
    }
    report(&st, ok, verbose);
    release(&st);
}

static void run_sqlite(const uint8_t *data, size_t size, int verbose) {
    const char *leaves = getenv("SPE_FUZZ_LEAVES_SQL"), *nodes = getenv("SPE_FUZZ_NODES_SQL");
    if (!leaves || !nodes) {
        fprintf(stderr, "SPE_FUZZ_LEAVES_SQL and SPE_FUZZ_NODES_SQL must be set\n");
        exit(2);
    }
    const char *dir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/spe-fuzz-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size) {
        perror("temporary file");
        exit(2);
    }
    close(fd);
    state st;
    init(&st);
    int64_t sizes[1] = {RANGE_END};
    chunk ck = {0, path, leaves, nodes, sizes, 1, 0, NULL, 0};
    int ok = verify(&st, &ck);
    report(&st, ok, verbose);
    if (ck.level)
        for (int l = 1; l < ck.levels; l++)
            free(ck.level[l]);
    free(ck.level);
    release(&st);
    unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0)
        return 0;
    if (data[0] == 0)
        run_copy(data + 1, size - 1, 0);
    else
        run_sqlite(data + 1, size - 1, 0);
    return 0;
}

#ifndef SPE_LIBFUZZER
static unsigned char *slurp(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *data = malloc(n > 0 ? (size_t)n : 1);
    *size = fread(data, 1, (size_t)n, f);
    fclose(f);
    return data;
}

static uint64_t rng_state;
static uint64_t rnd(void) { /* xorshift64*: reproducible from the seed */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

/* One random edit of `in` (the mode byte kept): flips, overwrites with boundary values,
 * deletions, duplications and splices of another input. */
static size_t mutate(const unsigned char *in, size_t n, const unsigned char *other, size_t m,
                     unsigned char *out, size_t cap) {
    memcpy(out, in, n);
    size_t edits = 1 + rnd() % 8;
    for (size_t e = 0; e < edits && n > 1; e++) {
        size_t at = 1 + rnd() % (n - 1);
        switch (rnd() % 7) {
        case 0:
            out[at] ^= (unsigned char)(1u << (rnd() % 8));
            break;
        case 1:
            out[at] = (unsigned char)rnd();
            break;
        case 2: { /* a 4-byte length to a boundary value */
            static const uint32_t edge[] = {0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe,
                                            8, 32, 27, 26, 28, 19};
            if (at + 4 <= n)
                put_be(out + at, edge[rnd() % (sizeof edge / sizeof *edge)], 4);
            break;
        }
        case 3: { /* delete a run */
            size_t len = 1 + rnd() % (n - at < 64 ? n - at : 64);
            memmove(out + at, out + at + len, n - at - len);
            n -= len;
            break;
        }
        case 4: { /* duplicate a run */
            size_t len = 1 + rnd() % (n - at < 256 ? n - at : 256);
            if (n + len <= cap) {
                memmove(out + at + len, out + at, n - at);
                n += len;
            }
            break;
        }
        case 5: { /* splice in a run of another input */
            if (m > 1) {
                size_t from = 1 + rnd() % (m - 1), len = 1 + rnd() % (m - from);
                if (at + len <= cap) {
                    memcpy(out + at, other + from, len);
                    if (at + len > n)
                        n = at + len;
                }
            }
            break;
        }
        default: /* truncate */
            n = at + 1;
        }
    }
    return n;
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "run") == 0) {
        for (int i = 2; i < argc; i++) {
            size_t n;
            unsigned char *data = slurp(argv[i], &n);
            if (!data || n == 0) {
                fprintf(stderr, "cannot read %s\n", argv[i]);
                return 2;
            }
            if (data[0] == 0)
                run_copy(data + 1, n - 1, 1);
            else
                run_sqlite(data + 1, n - 1, 1);
            free(data);
        }
        return 0;
    }
    if (argc != 5 || strcmp(argv[1], "fuzz") != 0) {
        fprintf(stderr, "usage: harness run FILE... | harness fuzz SECONDS SEED CORPUS_DIR\n");
        return 2;
    }
    double seconds = atof(argv[2]);
    rng_state = strtoull(argv[3], NULL, 10) | 1;
    unsigned char *corpus[256];
    size_t sizes[256], count = 0;
    DIR *dir = opendir(argv[4]);
    struct dirent *entry;
    while (dir && count < 256 && (entry = readdir(dir))) {
        if (entry->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", argv[4], entry->d_name);
        if ((corpus[count] = slurp(path, &sizes[count])) && sizes[count] > 0)
            count++;
    }
    if (dir)
        closedir(dir);
    if (!count) {
        fprintf(stderr, "empty corpus %s\n", argv[4]);
        return 2;
    }
    size_t cap = 0;
    for (size_t i = 0; i < count; i++)
        cap = sizes[i] > cap ? sizes[i] : cap;
    cap = 2 * cap + 1024;
    unsigned char *buf = malloc(cap);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long runs = 0;
    do {
        size_t i = rnd() % count, j = rnd() % count;
        size_t n = mutate(corpus[i], sizes[i], corpus[j], sizes[j], buf, cap);
        LLVMFuzzerTestOneInput(buf, n);
        runs++;
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((double)(t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 < seconds);
    printf("%ld runs, no finding\n", runs);
    free(buf);
    for (size_t i = 0; i < count; i++)
        free(corpus[i]);
    return 0;
}
#endif
