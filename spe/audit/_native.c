/* spe.audit._native: one chunk of the database verification in C.
 *
 * The same checks, in the same order and with the same messages, as the Python reference
 * (spe/audit/checks.py check_rows and spe/audit/chunks.py verify_chunk); the wrapper is
 * spe/audit/native.py, the rules docs/audit.md. Leaves are read straight from the database
 * (SQLite through libsqlite3, PostgreSQL through libpq as COPY BINARY), hashed with OpenSSL,
 * and the stored subtree hashes compared level by level, with the GIL released. The SQL
 * comes from spe/audit/scan.py, the sizes and versions from spe/audit/_layout.h (generated
 * from spe/audit/layout.py, which the Python verifier uses too).
 *
 * Everything read is untrusted: the database may be edited or the server hostile. Every
 * write is bounded by the range asked for (a row past it stops the pass), every field's
 * length and type is checked before use, SQLite files are opened without memory mapping
 * and in defensive mode. tests/audit/fuzz builds this file with AddressSanitizer and
 * UBSan and fuzzes the COPY parser and the SQLite row path.
 */
#ifndef SPE_AUDIT_NO_PYTHON /* the fuzz harness (tests/audit/fuzz) builds the core alone */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#endif

#include <libpq-fe.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_layout.h"

#ifdef SPE_AUDIT_NO_PYTHON
#include <stddef.h>
typedef ptrdiff_t Py_ssize_t;
#endif

#define HASH AUDIT_HASH_BYTES
#define VALUES AUDIT_VALUES /* ts and the other body fields but seq (encoding.BODY_FIELDS) */
#define COLUMNS 20       /* l.seq, l.version, l.ts, l.commitment, l.leaf_hash, e.seq,
                            e.salt, e.ts, 11 text fields, e.details */
#define FIRST_TEXT 8
#define MESSAGE 512
#define PG_EPOCH_DAYS 10957 /* 2000-01-01 in days since 1970-01-01 */

typedef struct {
    const unsigned char *p;
    int64_t n; /* -1: NULL */
} span;

typedef struct {
    unsigned char *p;
    size_t n, cap;
} buffer;

typedef struct {
    const char *malformed; /* the column of the wrong type, if any (SQLite) */
    int64_t seq, version;
    span ts, commitment, leaf_hash, salt;
    int has_event;
    span values[VALUES];
} row;

typedef struct {
    int64_t start, end, expect;
    span cutoff;
    unsigned char *hashes; /* room for (end - start) leaf hashes: level 0 of the tree */
    int64_t bodies;
    int64_t *gaps; /* [first, last] pairs */
    size_t ngaps, gaps_cap;
    int has_problem;
    int64_t problem_seq;
    char problem[MESSAGE];
    char error[MESSAGE]; /* a database error: raised, not a verification result */
    int unsupported;    /* the error is an unsupported database */
    EVP_MD *md;
    EVP_MD_CTX *ctx;
    buffer body, ts, ets;
} state;

/* --- small helpers ------------------------------------------------------------------- */

static int reserve(buffer *b, size_t need) {
    if (need <= b->cap)
        return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    unsigned char *p = realloc(b->p, cap);
    if (!p)
        return 0;
    b->p = p;
    b->cap = cap;
    return 1;
}

static void put_be(unsigned char *out, uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; i--, v >>= 8)
        out[i] = (unsigned char)(v & 0xff);
}

static uint64_t get_be(const unsigned char *in, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = (v << 8) | in[i];
    return v;
}

static void sha256(state *st, const span *parts, int n, unsigned char out[HASH]) {
    EVP_DigestInit_ex2(st->ctx, st->md, NULL);
    for (int i = 0; i < n; i++)
        if (parts[i].n > 0)
            EVP_DigestUpdate(st->ctx, parts[i].p, (size_t)parts[i].n);
    EVP_DigestFinal_ex(st->ctx, out, NULL);
}

static int equal_hash(const unsigned char h[HASH], span s) {
    return s.n == HASH && memcmp(h, s.p, HASH) == 0;
}

/* bytes comparison as Python's: a >= b */
static int bytes_ge(span a, span b) {
    size_t n = (size_t)(a.n < b.n ? a.n : b.n);
    int c = memcmp(a.p, b.p, n);
    return c != 0 ? c > 0 : a.n >= b.n;
}

/* Keep the first problem as Python's min((seq, message)) would. */
static void note_problem(state *st, int64_t seq, const char *fmt, ...) {
    char message[MESSAGE];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    if (!st->has_problem || seq < st->problem_seq ||
        (seq == st->problem_seq && strcmp(message, st->problem) < 0)) {
        st->has_problem = 1;
        st->problem_seq = seq;
        memcpy(st->problem, message, sizeof message);
    }
}

static int note_purged(state *st, int64_t seq) {
    if (st->ngaps && st->gaps[2 * st->ngaps - 1] == seq - 1) {
        st->gaps[2 * st->ngaps - 1] = seq;
        return 1;
    }
    if (st->ngaps == st->gaps_cap) {
        size_t cap = st->gaps_cap ? 2 * st->gaps_cap : 16;
        int64_t *p = realloc(st->gaps, 2 * cap * sizeof *p);
        if (!p)
            return 0;
        st->gaps = p;
        st->gaps_cap = cap;
    }
    st->gaps[2 * st->ngaps] = st->gaps[2 * st->ngaps + 1] = seq;
    st->ngaps++;
    return 1;
}

/* --- the checks of one leaf (checks.check_rows) ---------------------------------------- */

/* ts is the 27-byte RFC 3339 form (layout.TS_SHAPE: '0' marks a digit). */
static int ts_shaped(span ts) {
    static const char shape[] = AUDIT_TS_SHAPE;
    if (ts.n != AUDIT_TS_BYTES)
        return 0;
    for (int i = 0; i < AUDIT_TS_BYTES; i++) {
        unsigned char c = ts.p[i];
        if (shape[i] == '0' ? (c < '0' || c > '9') : c != (unsigned char)shape[i])
            return 0;
    }
    return 1;
}

/* 1: verified, go on; 0: a problem was noted, stop; -1: out of memory. */
static int check_row(state *st, const row *r) {
    unsigned char h[HASH], c[HASH], head[11];
    if (st->expect >= st->end) { /* a server sending more than it was asked for */
        note_problem(st, st->end, "the database sent leaves past the range asked for");
        return 0;
    }
    if (r->malformed) {
        note_problem(st, st->expect, "leaf is malformed: column %s has the wrong type",
                     r->malformed);
        return 0;
    }
    if (r->seq != st->expect) {
        note_problem(st, st->expect, "leaf %s (found seq %lld next)",
                     r->seq < st->expect ? "appears twice or out of order" : "is missing",
                     (long long)r->seq);
        return 0;
    }
    if (r->version != AUDIT_LEAF_V2 && r->version != AUDIT_LEAF_V3) {
        note_problem(st, r->seq, "audit leaf version %lld is not supported",
                     (long long)r->version);
        return 0;
    }
    if (!ts_shaped(r->ts)) {
        note_problem(st, r->seq, "leaf is malformed: ts is not a 27-byte RFC 3339 UTC time");
        return 0;
    }
    if (r->commitment.n != HASH) {
        note_problem(st, r->seq, "leaf is malformed: commitment is not 32 bytes");
        return 0;
    }
    static const unsigned char commitment_length[1] = {HASH};
    head[0] = AUDIT_LEAF_HASH_PREFIX;
    head[1] = (unsigned char)r->version;
    put_be(head + 2, (uint64_t)r->seq, 8);
    head[10] = AUDIT_TS_BYTES;
    if (r->version == AUDIT_LEAF_V3) {
        span leaf[4] = {{head, 11}, r->ts, {commitment_length, 1}, r->commitment};
        sha256(st, leaf, 4, h);
    } else {
        span leaf[3] = {{head, 10}, r->ts, r->commitment};
        sha256(st, leaf, 3, h);
    }
    if (!equal_hash(h, r->leaf_hash)) {
        note_problem(st, r->seq, "stored leaf hash is not the hash of the leaf");
        return 0;
    }
    if (!r->has_event) {
        if (bytes_ge(r->ts, st->cutoff)) {
            note_problem(st, r->seq, "body deleted within retention (event of %.*s)",
                         (int)r->ts.n, (const char *)r->ts.p);
            return 0;
        }
        if (!note_purged(st, r->seq))
            return -1;
    } else {
        /* body: version, seq, 13 signed lengths (-1: NULL), then the values */
        size_t size = AUDIT_BODY_HEAD_BYTES;
        for (int i = 0; i < VALUES; i++)
            size += r->values[i].n > 0 ? (size_t)r->values[i].n : 0;
        if (!reserve(&st->body, size))
            return -1;
        unsigned char *p = st->body.p;
        p[0] = (unsigned char)r->version;
        put_be(p + 1, (uint64_t)r->seq, 8);
        p += 9;
        for (int i = 0; i < VALUES; i++, p += 4)
            put_be(p, (uint32_t)(int32_t)r->values[i].n, 4);
        for (int i = 0; i < VALUES; i++)
            if (r->values[i].n > 0) {
                memcpy(p, r->values[i].p, (size_t)r->values[i].n);
                p += r->values[i].n;
            }
        span salted[2] = {r->salt, {st->body.p, (int64_t)size}};
        if (r->salt.n >= 0)
            sha256(st, salted, 2, c);
        if (r->salt.n < 0 || !equal_hash(c, r->commitment)) {
            note_problem(st, r->seq, "body does not match the leaf's commitment");
            return 0;
        }
        if (r->values[0].n != AUDIT_TS_BYTES ||
            memcmp(r->values[0].p, r->ts.p, AUDIT_TS_BYTES) != 0) {
            note_problem(st, r->seq, "the body's time is not the leaf's");
            return 0;
        }
        st->bodies++;
    }
    memcpy(st->hashes + (st->expect - st->start) * HASH, h, HASH);
    st->expect++;
    return 1;
}

/* --- SQLite ---------------------------------------------------------------------------- */

/* Stored 'YYYY-MM-DD HH:MM:SS.ffffff' as RFC 3339, as scan.rfc3339 does (by position). */
static int sqlite_ts(buffer *b, const unsigned char *s, int n, span *out) {
    if (!reserve(b, (size_t)n + 2))
        return 0;
    int head = n < 10 ? n : 10;
    memcpy(b->p, s, (size_t)head);
    b->p[head] = 'T';
    int tail = n > 11 ? n - 11 : 0;
    memcpy(b->p + head + 1, s + 11, (size_t)tail);
    b->p[head + 1 + tail] = 'Z';
    out->p = b->p;
    out->n = head + tail + 2;
    return 1;
}

/* Text or blob as bytes (text_factory=bytes); other types are malformed. */
static int sqlite_bytes(sqlite3_stmt *q, int i, span *out, int nullable) {
    int type = sqlite3_column_type(q, i);
    if (type == SQLITE_NULL) {
        out->p = NULL;
        out->n = -1;
        return nullable;
    }
    if (type != SQLITE_TEXT && type != SQLITE_BLOB)
        return 0;
    out->p = sqlite3_column_blob(q, i);
    out->n = sqlite3_column_bytes(q, i);
    if (!out->p)
        out->p = (const unsigned char *)"";
    return 1;
}

static const char *const COLUMN_NAMES[COLUMNS] = {
    "seq", "version", "ts", "commitment", "leaf_hash", "event seq", "salt", "event ts",
    "actor_type", "actor_id", "actor_role", "action", "target_type", "target_id",
    "project_id", "outcome", "request_id", "trace_id", "client_addr", "details"};

static int sqlite_row(state *st, sqlite3_stmt *q, row *r) {
    span ts;
    r->malformed = NULL;
    if (sqlite3_column_type(q, 0) != SQLITE_INTEGER)
        r->malformed = COLUMN_NAMES[0];
    else if (sqlite3_column_type(q, 1) != SQLITE_INTEGER)
        r->malformed = COLUMN_NAMES[1];
    else if (!sqlite_bytes(q, 2, &ts, 0))
        r->malformed = COLUMN_NAMES[2];
    else if (!sqlite_bytes(q, 3, &r->commitment, 0))
        r->malformed = COLUMN_NAMES[3];
    if (r->malformed)
        return 1;
    if (!sqlite_bytes(q, 4, &r->leaf_hash, 1))
        r->leaf_hash.n = -1; /* only compared: a number never equals the hash */
    r->seq = sqlite3_column_int64(q, 0);
    r->version = sqlite3_column_int64(q, 1);
    if (!sqlite_ts(&st->ts, ts.p, (int)ts.n, &r->ts))
        return 0;
    r->has_event = sqlite3_column_type(q, 5) != SQLITE_NULL;
    if (!r->has_event)
        return 1;
    span ets;
    if (!sqlite_bytes(q, 6, &r->salt, 1))
        r->malformed = COLUMN_NAMES[6];
    else if (!sqlite_bytes(q, 7, &ets, 1))
        r->malformed = COLUMN_NAMES[7];
    for (int i = FIRST_TEXT; i < COLUMNS && !r->malformed; i++)
        if (!sqlite_bytes(q, i, &r->values[i - FIRST_TEXT + 1], 1))
            r->malformed = COLUMN_NAMES[i];
    if (r->malformed)
        return 1;
    if (ets.n < 0)
        r->values[0] = ets;
    else if (!sqlite_ts(&st->ets, ets.p, (int)ets.n, &r->values[0]))
        return 0;
    return 1;
}

typedef struct {
    sqlite3 *db;
    PGconn *pg;
} reader;

static int sqlite_error(state *st, sqlite3 *db, const char *what) {
    snprintf(st->error, MESSAGE, "%s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
    return 0;
}

/* A connection of this thread's own (no mutex), read-only, for a file that may have been
 * edited by hand: no memory mapping, cell sizes checked, defensive mode, no schema code. */
static int sqlite_open(state *st, reader *rd, const char *path) {
    int rc = sqlite3_open_v2(path, &rd->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_db_config(rd->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
#ifdef SQLITE_DBCONFIG_TRUSTED_SCHEMA
    if (rc == SQLITE_OK)
        rc = sqlite3_db_config(rd->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
#endif
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(rd->db, "PRAGMA mmap_size = 0; PRAGMA cell_size_check = ON; "
                                  "PRAGMA query_only = ON", NULL, NULL, NULL);
    return rc == SQLITE_OK ? 1 : sqlite_error(st, rd->db, "opening the database");
}

static int sqlite_leaves(state *st, reader *rd, const char *sql) {
    sqlite3_stmt *q;
    row r;
    if (sqlite3_prepare_v2(rd->db, sql, -1, &q, NULL) != SQLITE_OK)
        return sqlite_error(st, rd->db, "reading the leaves");
    sqlite3_bind_int64(q, 1, st->start);
    sqlite3_bind_int64(q, 2, st->end);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (!sqlite_row(st, q, &r)) {
            sqlite3_finalize(q);
            snprintf(st->error, MESSAGE, "out of memory");
            return 0;
        }
        int checked = check_row(st, &r);
        if (checked < 0) {
            sqlite3_finalize(q);
            snprintf(st->error, MESSAGE, "out of memory");
            return 0;
        }
        if (!checked)
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        sqlite3_finalize(q);
        return sqlite_error(st, rd->db, "reading the leaves");
    }
    sqlite3_finalize(q);
    return 1;
}

/* First index in [lo, lo + count) whose stored hash is not expected[i - lo], or -1. */
static int sqlite_compare_level(state *st, reader *rd, const char *sql, int level, int64_t lo,
                                const unsigned char *expected, int64_t count, int64_t *bad) {
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(rd->db, sql, -1, &q, NULL) != SQLITE_OK)
        return sqlite_error(st, rd->db, "reading the subtree hashes");
    sqlite3_bind_int(q, 1, level);
    sqlite3_bind_int64(q, 2, lo);
    sqlite3_bind_int64(q, 3, lo + count);
    int64_t next = lo; /* every index below it was found and equal */
    *bad = -1;
    int rc;
    while (*bad < 0 && next < lo + count && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        int64_t index = sqlite3_column_int64(q, 0);
        span h;
        if (sqlite3_column_type(q, 0) != SQLITE_INTEGER || index != next ||
            !sqlite_bytes(q, 1, &h, 0) ||
            !equal_hash(expected + (index - lo) * HASH, h))
            *bad = next;
        next++;
    }
    if (*bad < 0 && next < lo + count && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        sqlite3_finalize(q);
        return sqlite_error(st, rd->db, "reading the subtree hashes");
    }
    if (*bad < 0 && next < lo + count)
        *bad = next;
    sqlite3_finalize(q);
    return 1;
}

/* --- PostgreSQL ------------------------------------------------------------------------ */

static int pg_error(state *st, PGconn *pg, const char *what) {
    snprintf(st->error, MESSAGE, "%s: %s", what, pg ? PQerrorMessage(pg) : "out of memory");
    return 0;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
    z += 719468; /* H. Hinnant's algorithm, days since 1970-01-01 */
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* A binary timestamptz (microseconds since 2000-01-01 UTC) as RFC 3339 with microseconds,
 * as to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') writes it. */
static int pg_ts(buffer *b, const unsigned char *p, span *out) {
    int64_t us = (int64_t)get_be(p, 8);
    int64_t day = us / 86400000000LL, rem = us % 86400000000LL;
    if (rem < 0) {
        rem += 86400000000LL;
        day--;
    }
    int64_t y;
    unsigned m, d;
    civil_from_days(day + PG_EPOCH_DAYS, &y, &m, &d);
    int64_t s = rem / 1000000;
    if (!reserve(b, 64))
        return 0;
    out->p = b->p;
    if (y < 0 || y > 9999) { /* never in a real log; printf is slow but exact */
        out->n = snprintf((char *)b->p, 64, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%06lldZ",
                          (long long)y, m, d, (long long)(s / 3600), (long long)(s / 60 % 60),
                          (long long)(s % 60), (long long)(rem % 1000000));
        return 1;
    }
    /* YYYY-MM-DDTHH:MM:SS.ffffffZ, digit by digit */
    static const char shape[] = "0000-00-00T00:00:00.000000Z";
    static const int at[] = {0, 5, 8, 11, 14, 17, 20};
    static const int width[] = {4, 2, 2, 2, 2, 2, 6};
    int64_t parts[] = {y, m, d, s / 3600, s / 60 % 60, s % 60, rem % 1000000};
    unsigned char *o = b->p;
    memcpy(o, shape, sizeof shape - 1);
    for (int i = 0; i < 7; i++)
        for (int k = at[i] + width[i] - 1; k >= at[i]; k--, parts[i] /= 10)
            o[k] = (unsigned char)('0' + parts[i] % 10);
    out->n = sizeof shape - 1;
    return 1;
}

/* One tuple of the COPY BINARY stream into a row; 0 when the fields are not as selected. */
static int pg_row(state *st, span *f, row *r) {
    if (f[0].n != 8 || f[1].n != 2 || f[2].n != 8 || f[3].n < 0 || f[4].n < 0 ||
        (f[5].n != 8 && f[5].n != -1) || (f[7].n != 8 && f[7].n != -1))
        return 0;
    r->malformed = NULL;
    r->seq = (int64_t)get_be(f[0].p, 8);
    r->version = (int16_t)get_be(f[1].p, 2);
    if (!pg_ts(&st->ts, f[2].p, &r->ts))
        return 0;
    r->commitment = f[3];
    r->leaf_hash = f[4];
    r->has_event = f[5].n >= 0;
    r->salt = f[6];
    if (f[7].n == 8) {
        if (!pg_ts(&st->ets, f[7].p, &r->values[0]))
            return 0;
    } else {
        r->values[0] = f[7]; /* NULL */
    }
    for (int i = FIRST_TEXT; i < COLUMNS; i++)
        r->values[i - FIRST_TEXT + 1] = f[i];
    return 1;
}

static const unsigned char COPY_SIGNATURE[11] = "PGCOPY\n\377\r\n";

/* One CopyData message: the server sends one row per message (the header with the first,
 * the trailer alone; protocol "Copy-out mode"). Returns 1, or 0 when the data is not as
 * selected, -1 when out of memory. */
static int pg_message(state *st, const unsigned char *data, int64_t n, int *header_seen,
                      int *done) {
    int64_t p = 0;
    if (!*header_seen) {
        if (n < 19 || memcmp(data, COPY_SIGNATURE, 11) != 0)
            return 0;
        p = 19 + (int64_t)get_be(data + 15, 4);
        if (p > n)
            return 0;
        *header_seen = 1;
    }
    if (p == n)
        return 1;
    if (n - p < 2)
        return 0;
    int16_t fields = (int16_t)get_be(data + p, 2);
    p += 2;
    if (fields == -1) {
        *done = 1;
        return p == n;
    }
    if (fields != COLUMNS)
        return 0;
    span f[COLUMNS];
    for (int i = 0; i < COLUMNS; i++) {
        if (n - p < 4)
            return 0;
        int32_t len = (int32_t)get_be(data + p, 4);
        p += 4;
        if (len < -1 || (len > 0 && n - p < len))
            return 0;
        f[i].p = data + p;
        f[i].n = len;
        if (len > 0)
            p += len;
    }
    row r;
    if (p != n || !pg_row(st, f, &r))
        return 0;
    return check_row(st, &r) < 0 ? -1 : 1;
}

static int pg_leaves(state *st, reader *rd, const char *copy_sql) {
    PGresult *res = PQexec(rd->pg, copy_sql);
    if (PQresultStatus(res) != PGRES_COPY_OUT) {
        PQclear(res);
        return pg_error(st, rd->pg, "reading the leaves");
    }
    PQclear(res);
    int header_seen = 0, done = 0, n;
    char *data;
    while (!st->has_problem && !done && (n = PQgetCopyData(rd->pg, &data, 0)) > 0) {
        int read = pg_message(st, (const unsigned char *)data, n, &header_seen, &done);
        PQfreemem(data);
        if (read <= 0) {
            snprintf(st->error, MESSAGE, read < 0 ? "out of memory"
                                                  : "unexpected COPY data from the server");
            return 0;
        }
    }
    if (!done && !st->has_problem)
        return pg_error(st, rd->pg, "reading the leaves");
    while ((n = PQgetCopyData(rd->pg, &data, 0)) > 0)
        PQfreemem(data); /* after a problem, the rows left; else nothing */
    while ((res = PQgetResult(rd->pg)) != NULL) {
        int bad = PQresultStatus(res) != PGRES_COMMAND_OK;
        PQclear(res);
        if (bad)
            return pg_error(st, rd->pg, "reading the leaves");
    }
    return 1;
}

static int pg_compare_level(state *st, reader *rd, const char *sql, int level, int64_t lo,
                            const unsigned char *expected, int64_t count, int64_t *bad) {
    char a[24], b[24], c[24];
    snprintf(a, sizeof a, "%d", level);
    snprintf(b, sizeof b, "%lld", (long long)lo);
    snprintf(c, sizeof c, "%lld", (long long)(lo + count));
    const char *params[3] = {a, b, c};
    PGresult *res = PQexecParams(rd->pg, sql, 3, NULL, params, NULL, NULL, 1);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        PQclear(res);
        return pg_error(st, rd->pg, "reading the subtree hashes");
    }
    int rows = PQntuples(res);
    if (PQnfields(res) != 2 || PQfformat(res, 0) != 1 || PQfformat(res, 1) != 1) {
        PQclear(res);
        snprintf(st->error, MESSAGE, "unexpected subtree hash rows from the server");
        return 0;
    }
    /* the index as the integer type the column has (an edited schema may have another);
     * the hash only as bytea: any other type never equals a hash, as in Python */
    Oid index_type = PQftype(res, 0);
    int width = index_type == 20 ? 8 : index_type == 23 ? 4 : index_type == 21 ? 2 : 0;
    int hash_is_bytea = PQftype(res, 1) == 17;
    int64_t next = lo;
    *bad = -1;
    for (int i = 0; i < rows && *bad < 0 && next < lo + count; i++, next++) {
        if (!width || PQgetisnull(res, i, 0) || PQgetlength(res, i, 0) != width) {
            *bad = next;
            break;
        }
        uint64_t raw = get_be((const unsigned char *)PQgetvalue(res, i, 0), width);
        int64_t index = width == 8 ? (int64_t)raw : width == 4 ? (int32_t)raw : (int16_t)raw;
        span h = {(const unsigned char *)PQgetvalue(res, i, 1), PQgetlength(res, i, 1)};
        if (PQgetisnull(res, i, 1) || !hash_is_bytea)
            h.n = -1;
        if (index != next || !equal_hash(expected + (index - lo) * HASH, h))
            *bad = next;
    }
    if (*bad < 0 && next < lo + count)
        *bad = next;
    PQclear(res);
    return 1;
}

/* A host that is a Unix socket or this machine's loopback. */
static int local_host(const char *host) {
    return host[0] == '/' || host[0] == '@' || strcmp(host, "localhost") == 0 ||
           strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0;
}

/* 1 when every host of the connection string is local or sslmode is verify-full: the
 * database is what the verifier is checking, so a server whose certificate was not
 * verified (libpq's default, sslmode=prefer, even falls back to plain text) is refused. */
static int pg_secure(state *st, const char *dsn) {
    char *message = NULL;
    PQconninfoOption *options = PQconninfoParse(dsn, &message);
    if (!options) {
        snprintf(st->error, MESSAGE, "cannot parse the connection string: %s",
                 message ? message : "out of memory");
        PQfreemem(message);
        return 0;
    }
    int local = 1, verified = 0;
    for (PQconninfoOption *o = options; o->keyword; o++) {
        if (!o->val)
            continue;
        if (strcmp(o->keyword, "sslmode") == 0)
            verified = strcmp(o->val, "verify-full") == 0;
        if (strcmp(o->keyword, "host") == 0 || strcmp(o->keyword, "hostaddr") == 0) {
            char hosts[1024];
            if (strlen(o->val) >= sizeof hosts) { /* not checked whole: not local */
                local = 0;
                continue;
            }
            snprintf(hosts, sizeof hosts, "%s", o->val);
            for (char *save = NULL, *h = strtok_r(hosts, ",", &save); h;
                 h = strtok_r(NULL, ",", &save))
                local = local && local_host(h);
        }
    }
    PQconninfoFree(options);
    if (!local && !verified) {
        snprintf(st->error, MESSAGE, "refusing to read the audit log from a remote PostgreSQL "
                 "server without sslmode=verify-full");
        st->unsupported = 1;
        return 0;
    }
    return 1;
}

static int pg_open(state *st, reader *rd, const char *dsn) {
    if (!pg_secure(st, dsn))
        return 0;
    rd->pg = PQconnectdb(dsn);
    if (PQstatus(rd->pg) != CONNECTION_OK)
        return pg_error(st, rd->pg, "connecting to PostgreSQL");
    const char *encoding = PQparameterStatus(rd->pg, "server_encoding");
    if (!encoding || strcmp(encoding, "UTF8") != 0) {
        snprintf(st->error, MESSAGE, "the audit database is %s, not UTF8: bodies would not "
                 "serialise as they were committed", encoding ? encoding : "of unknown encoding");
        st->unsupported = 1;
        return 0;
    }
    PGresult *res = PQexec(rd->pg, "SET client_encoding = 'UTF8'; "
                                   "SET default_transaction_read_only = on");
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    return ok ? 1 : pg_error(st, rd->pg, "configuring the PostgreSQL session");
}

/* --- the chunk (chunks.verify_chunk) --------------------------------------------------- */

typedef struct {
    int postgres;
    const char *target, *leaves_sql, *nodes_sql;
    int64_t *sizes;
    Py_ssize_t nsizes;
    int64_t m;                 /* leaves verified */
    unsigned char **level;     /* level[l]: the (m >> l) hashes at level l */
    int levels;
} chunk;

static int verify(state *st, chunk *ck) {
    reader rd = {0};
    int ok;
    if (ck->postgres) {
        ok = pg_open(st, &rd, ck->target) && pg_leaves(st, &rd, ck->leaves_sql);
    } else {
        ok = sqlite_open(st, &rd, ck->target) && sqlite_leaves(st, &rd, ck->leaves_sql);
    }
    if (ok && !st->has_problem && st->expect < st->end)
        note_problem(st, st->expect, "leaf is missing (the leaves stop before %lld)",
                     (long long)st->end);
    ck->m = st->expect - st->start;
    ck->levels = 1;
    while (ok && (ck->m >> ck->levels) > 0)
        ck->levels++;
    ck->level = ok ? calloc((size_t)ck->levels, sizeof *ck->level) : NULL;
    if (ok && !ck->level) {
        snprintf(st->error, MESSAGE, "out of memory");
        ok = 0;
    }
    if (ok)
        ck->level[0] = st->hashes;
    for (int l = 1; ok && l < ck->levels; l++) {
        int64_t count = ck->m >> l, lo = st->start >> l, bad;
        unsigned char *below = ck->level[l - 1], *here = malloc((size_t)count * HASH);
        if (!here) {
            snprintf(st->error, MESSAGE, "out of memory");
            ok = 0;
            break;
        }
        ck->level[l] = here;
        unsigned char prefix = 0x01;
        for (int64_t i = 0; i < count; i++) {
            span node[3] = {{&prefix, 1}, {below + 2 * i * HASH, HASH},
                            {below + (2 * i + 1) * HASH, HASH}};
            sha256(st, node, 3, here + i * HASH);
        }
        ok = ck->postgres
                 ? pg_compare_level(st, &rd, ck->nodes_sql, l, lo, here, count, &bad)
                 : sqlite_compare_level(st, &rd, ck->nodes_sql, l, lo, here, count, &bad);
        if (ok && bad >= 0)
            note_problem(st, bad << l, "stored subtree hash (%d, %lld) over leaves %lld..%lld "
                         "is wrong or missing: proofs served from it would fail", l,
                         (long long)bad, (long long)(bad << l),
                         (long long)((bad << l) + ((int64_t)1 << l) - 1));
    }
    if (rd.db)
        sqlite3_close(rd.db);
    if (rd.pg)
        PQfinish(rd.pg);
    return ok;
}

#ifndef SPE_AUDIT_NO_PYTHON
/* The frontier (lowest first) of the first `size` verified leaves of the chunk. */
static PyObject *frontier(chunk *ck, int64_t size) {
    PyObject *list = PyList_New(0);
    for (int l = 0; list && l < ck->levels && (size >> l) > 0; l++) {
        if (!((size >> l) & 1))
            continue;
        PyObject *h = PyBytes_FromStringAndSize(
            (const char *)ck->level[l] + ((size >> l) - 1) * HASH, HASH);
        int bad = !h || PyList_Append(list, h) < 0;
        Py_XDECREF(h);
        if (bad)
            Py_CLEAR(list);
    }
    return list;
}

static PyObject *result(state *st, chunk *ck) {
    PyObject *at = PyDict_New(), *gaps = PyList_New((Py_ssize_t)st->ngaps);
    PyObject *front = frontier(ck, ck->m), *problem = NULL;
    if (!at || !gaps || !front)
        goto fail;
    for (Py_ssize_t i = 0; i < ck->nsizes; i++) {
        int64_t size = ck->sizes[i];
        if (size <= st->start || size > st->expect)
            continue;
        PyObject *key = PyLong_FromLongLong(size), *value = frontier(ck, size - st->start);
        int bad = !key || !value || PyDict_SetItem(at, key, value) < 0;
        Py_XDECREF(key);
        Py_XDECREF(value);
        if (bad)
            goto fail;
    }
    for (size_t i = 0; i < st->ngaps; i++) {
        PyObject *gap = Py_BuildValue("[LL]", (long long)st->gaps[2 * i],
                                      (long long)st->gaps[2 * i + 1]);
        if (!gap)
            goto fail;
        PyList_SET_ITEM(gaps, (Py_ssize_t)i, gap);
    }
    if (st->has_problem)
        problem = Py_BuildValue("(Ls)", (long long)st->problem_seq, st->problem);
    else
        problem = Py_NewRef(Py_None);
    if (!problem)
        goto fail;
    return Py_BuildValue("(LNNLNN)", (long long)st->expect, front, at,
                         (long long)st->bodies, gaps, problem);
fail:
    Py_XDECREF(at);
    Py_XDECREF(gaps);
    Py_XDECREF(front);
    return NULL;
}

static PyObject *verify_chunk(PyObject *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"dialect", "target", "leaves_sql", "nodes_sql", "start", "end",
                               "sizes", "cutoff", NULL};
    const char *dialect, *target, *leaves_sql, *nodes_sql;
    long long start, end;
    PyObject *sizes_arg;
    Py_buffer cutoff;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "ssssLLOy*", keywords, &dialect, &target,
                                     &leaves_sql, &nodes_sql, &start, &end, &sizes_arg,
                                     &cutoff))
        return NULL;
    chunk ck = {0};
    state st = {0};
    PyObject *out = NULL, *sizes = PySequence_Fast(sizes_arg, "sizes must be a sequence");
    if (!sizes)
        goto done;
    if (strcmp(dialect, "sqlite") != 0 && strcmp(dialect, "postgresql") != 0) {
        PyErr_Format(PyExc_ValueError, "cannot verify an audit log in %s", dialect);
        goto done;
    }
    if (start < 0 || end < start) {
        PyErr_SetString(PyExc_ValueError, "need 0 <= start <= end");
        goto done;
    }
    ck.postgres = dialect[0] == 'p';
    ck.target = target;
    ck.leaves_sql = leaves_sql;
    ck.nodes_sql = nodes_sql;
    ck.nsizes = PySequence_Fast_GET_SIZE(sizes);
    ck.sizes = PyMem_Calloc((size_t)ck.nsizes + 1, sizeof *ck.sizes);
    if (!ck.sizes) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < ck.nsizes; i++) {
        ck.sizes[i] = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(sizes, i));
        if (ck.sizes[i] == -1 && PyErr_Occurred())
            goto done;
    }
    st.start = st.expect = start;
    st.end = end;
    st.cutoff.p = cutoff.buf;
    st.cutoff.n = cutoff.len;
    st.md = EVP_MD_fetch(NULL, "SHA256", NULL);
    st.ctx = EVP_MD_CTX_new();
    st.hashes = malloc((size_t)(end - start) * HASH + 1);
    if (!st.md || !st.ctx || !st.hashes) {
        PyErr_NoMemory();
        goto done;
    }
    int ok;
    Py_BEGIN_ALLOW_THREADS
    ok = verify(&st, &ck);
    Py_END_ALLOW_THREADS
    if (!ok)
        PyErr_SetString(st.unsupported ? PyExc_ValueError : PyExc_OSError,
                        st.error[0] ? st.error : "out of memory");
    else
        out = result(&st, &ck);
done:
    for (int l = 1; ck.level && l < ck.levels; l++)
        free(ck.level[l]);
    free(ck.level);
    free(st.hashes);
    free(st.gaps);
    free(st.body.p);
    free(st.ts.p);
    free(st.ets.p);
    EVP_MD_CTX_free(st.ctx);
    EVP_MD_free(st.md);
    PyMem_Free(ck.sizes);
    Py_XDECREF(sizes);
    PyBuffer_Release(&cutoff);
    return out;
}

static PyMethodDef methods[] = {
    {"verify_chunk", (PyCFunction)(void (*)(void))verify_chunk, METH_VARARGS | METH_KEYWORDS,
     "verify_chunk(dialect, target, leaves_sql, nodes_sql, start, end, sizes, cutoff)\n"
     "-> (end, frontier, at, bodies, gaps, problem): see spe/audit/native.py."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "spe.audit._native",
                                    "The audit verifier's inner loop in C.", -1, methods};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
#endif
