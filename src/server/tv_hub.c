#include "tv_hub.h"
#include "tv_audit.h"
#include "tv_auditlog.h"
#include "tv_base32.h"
#include "tv_err.h"
#include "tv_record.h"
#include "tv_turn.h"

#include <cjson/cJSON.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PATIENT = 0, CLINICIAN = 1 };

struct tv_hub_participant {
    char id[17];
    int role, admitted;
    char name[81];
    int64_t uid;                    /* clinicians */
    int64_t since_ms, gone_ms;      /* gone_ms: when its connection dropped, 0 while connected */
    uint8_t resume_hash[TV_TOKEN_HASHBYTES];
    /* What this call already put in the audit log: a client repeating ice_path or sas_result must
     * not turn each message into a synced write on the event loop. A new call clears them. */
    int sas_audited, screen_shared;
    char path_audited[128];
    tv_hub_conn *conn;
    tv_hub_room *room;
    tv_hub_participant *next;
};

struct tv_hub_room {
    char visit[65];
    int64_t owner_uid;
    tv_hub_participant *members;
    tv_hub_room *next;
};

static const char *const role_names[] = { "patient", "clinician" };

/* ---- sending ---- */

static void conn_close(tv_hub *h, tv_hub_conn *c)
{
    if (c && !c->closing) {
        c->closing = 1;
        h->io.close(h->io.ctx, c);
    }
}

static void send_raw(tv_hub *h, tv_hub_conn *c, const char *frame, size_t len)
{
    if (c == NULL || c->closing)
        return;
    if (h->io.send(h->io.ctx, c, frame, len) != 0)
        conn_close(h, c);   /* it does not read what it is sent: it may not make the server hold more */
}

/* Serializes m (validated against the schema on the way) and frees it. */
static void send_msg(tv_hub *h, tv_hub_conn *c, tv_msg *m)
{
    size_t n;
    if (tv_msg_serialize(m, h->out, sizeof h->out, &n) == 0)
        send_raw(h, c, h->out, n);
    else
        fprintf(stderr, "televisitd: hub built an invalid %s message\n", tv_msg_type_name(m->type));
    tv_msg_free(m);
}

static void send_error(tv_hub *h, tv_hub_conn *c, int code, const char *message, const char *ref)
{
    tv_msg m;
    tv_msg_init(&m, TV_MSG_ERROR, TV_MSG_FROM_SERVER);
    tv_msg_set_str(&m, "code", tv_err_name(code), strlen(tv_err_name(code)));
    tv_msg_set_str(&m, "message", message, strlen(message));
    if (ref)
        tv_msg_set_str(&m, "ref", ref, strlen(ref));
    send_msg(h, c, &m);
}

static void send_simple(tv_hub *h, tv_hub_conn *c, tv_msg_type type, const char *key, const char *value)
{
    tv_msg m;
    tv_msg_init(&m, type, TV_MSG_FROM_SERVER);
    if (key)
        tv_msg_set_str(&m, key, value, strlen(value));
    send_msg(h, c, &m);
}

static void peer_message(tv_hub *h, tv_hub_conn *to, tv_msg_type type, const tv_hub_participant *p, const char *reason)
{
    tv_msg m;
    tv_msg_init(&m, type, TV_MSG_FROM_SERVER);
    tv_msg_set_str(&m, "id", p->id, strlen(p->id));
    if (type == TV_MSG_PEER_JOINED) {
        tv_msg_set_str(&m, "role", role_names[p->role], strlen(role_names[p->role]));
        if (p->name[0])
            tv_msg_set_str(&m, "name", p->name, strlen(p->name));
    } else {
        tv_msg_set_str(&m, "reason", reason, strlen(reason));
    }
    send_msg(h, to, &m);
}

/* To every admitted, connected member but `except`. */
static void to_admitted(tv_hub *h, tv_hub_room *r, const tv_hub_participant *except, tv_msg_type type,
                        const tv_hub_participant *about, const char *reason)
{
    for (tv_hub_participant *q = r->members; q; q = q->next) {
        if (type == TV_MSG_PEER_JOINED) {   /* a new call for everyone in it: new keys, a new path */
            q->sas_audited = 0;
            q->screen_shared = 0;
            q->path_audited[0] = '\0';
        }
        if (q != except && q->admitted && q->conn)
            peer_message(h, q->conn, type, about, reason);
    }
}

static void audit_as(tv_hub *h, int64_t now, const char *type, const char *who, const char *ip, const char *room,
                     const char *message, const char *extra)
{
    tv_audit_record rec = { 0, now, type, who, message, room ? room : "", ip, extra ? extra : "" };
    if (tv_auditlog_append(h->st, &rec, NULL) != 0)
        fprintf(stderr, "televisitd: could not append %s to the audit log\n", type);
}

static void audit(tv_hub *h, int64_t now, const char *type, const tv_hub_participant *p, const char *room,
                  const char *message, const char *extra)
{
    char who[40] = "";
    if (p && p->role == CLINICIAN)
        snprintf(who, sizeof who, "user:%lld", (long long)p->uid);
    else if (p)
        snprintf(who, sizeof who, "patient:%s", p->id);
    audit_as(h, now, type, who, p && p->conn ? p->conn->ip : "", room, message, extra);
}

/* ---- rooms ---- */

static uint32_t bucket_of(const char *visit)
{
    uint32_t x = 2166136261u;
    for (const char *p = visit; *p; p++)
        x = (x ^ (uint8_t)*p) * 16777619u;
    return x % TV_HUB_ROOM_BUCKETS;
}

static tv_hub_room *room_find(tv_hub *h, const char *visit)
{
    for (tv_hub_room *r = h->rooms[bucket_of(visit)]; r; r = r->next)
        if (strcmp(r->visit, visit) == 0)
            return r;
    return NULL;
}

static tv_hub_room *room_get(tv_hub *h, const char *visit, int64_t owner)
{
    tv_hub_room *r = room_find(h, visit);
    if (r)
        return r;
    r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    snprintf(r->visit, sizeof r->visit, "%s", visit);
    r->owner_uid = owner;
    uint32_t b = bucket_of(visit);
    r->next = h->rooms[b];
    h->rooms[b] = r;
    h->room_count++;
    return r;
}

static void room_free_if_empty(tv_hub *h, tv_hub_room *r)
{
    if (r->members)
        return;
    tv_hub_room **pp = &h->rooms[bucket_of(r->visit)];
    while (*pp && *pp != r)
        pp = &(*pp)->next;
    if (*pp)
        *pp = r->next;
    free(r);
    h->room_count--;
}

/* ---- the lobby: a clinician's waiting patients across all its visits, for its dashboards ---- */

static int by_since(const void *a, const void *b)
{
    const tv_hub_participant *x = *(tv_hub_participant *const *)a, *y = *(tv_hub_participant *const *)b;
    return (x->since_ms > y->since_ms) - (x->since_ms < y->since_ms);
}

/* Every connected waiting patient of uid's rooms, oldest first; the count of all of them as `total`. */
static int lobby_build(tv_hub *h, int64_t uid, tv_msg *m)
{
    size_t n = 0, cap = 0;
    tv_hub_participant **all = NULL;
    for (size_t b = 0; b < TV_HUB_ROOM_BUCKETS; b++)
        for (tv_hub_room *r = h->rooms[b]; r; r = r->next) {
            if (r->owner_uid != uid)
                continue;
            for (tv_hub_participant *p = r->members; p; p = p->next) {
                if (p->role != PATIENT || p->admitted || !p->conn)
                    continue;
                if (n == cap) {
                    size_t nc = cap ? cap * 2 : 16;
                    tv_hub_participant **grown = realloc(all, nc * sizeof *all);
                    if (grown == NULL) {
                        free(all);
                        return TV_ERR_NOMEM;
                    }
                    all = grown;
                    cap = nc;
                }
                all[n++] = p;
            }
        }
    if (n > 1)
        qsort(all, n, sizeof *all, by_since);
    tv_msg_init(m, TV_MSG_LOBBY, TV_MSG_FROM_SERVER);
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n && i < TV_HUB_LOBBY_MAX; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "visit", all[i]->room->visit);
        cJSON_AddStringToObject(o, "id", all[i]->id);
        cJSON_AddStringToObject(o, "name", all[i]->name);
        cJSON_AddNumberToObject(o, "since", (double)all[i]->since_ms);
        cJSON_AddItemToArray(arr, o);
    }
    free(all);
    tv_msg_set_json(m, "patients", arr);
    return tv_msg_set_int(m, "total", (int64_t)n);
}

/* uid's waiting patients changed (or one dashboard, `only`, just asked): its dashboards get the list.
 * Without a watcher for uid this costs one walk of the (short) watcher list. */
static void lobby_changed(tv_hub *h, int64_t uid, tv_hub_conn *only)
{
    int any = 0;
    for (tv_hub_conn *w = h->watchers; w && !any; w = w->watch_next)
        any = w->watch_uid == uid && !w->closing;
    tv_msg m;
    if (!any || lobby_build(h, uid, &m) != 0)
        return;
    size_t n;
    if (tv_msg_serialize(&m, h->out, sizeof h->out, &n) == 0) {
        for (tv_hub_conn *w = h->watchers; w; w = w->watch_next)
            if (w->watch_uid == uid && (only == NULL || w == only))
                send_raw(h, w, h->out, n);   /* a full queue closes it later: the list stays whole */
    }
    tv_msg_free(&m);
}

static void unwatch(tv_hub *h, tv_hub_conn *c)
{
    for (tv_hub_conn **pp = &h->watchers; *pp; pp = &(*pp)->watch_next)
        if (*pp == c) {
            *pp = c->watch_next;
            break;
        }
    c->watch_uid = 0;
    c->watch_next = NULL;
}

/* The whole waiting list, to the room's connected clinicians and the owner's dashboards. */
static void waiting_room_update(tv_hub *h, tv_hub_room *r)
{
    for (tv_hub_participant *c = r->members; c; c = c->next) {
        if (c->role != CLINICIAN || !c->conn)
            continue;
        tv_msg m;
        tv_msg_init(&m, TV_MSG_WAITING_ROOM, TV_MSG_FROM_SERVER);
        cJSON *arr = cJSON_CreateArray();
        for (tv_hub_participant *p = r->members; p; p = p->next)
            if (p->role == PATIENT && !p->admitted && p->conn) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "id", p->id);
                cJSON_AddStringToObject(o, "name", p->name);
                cJSON_AddNumberToObject(o, "since", (double)p->since_ms);
                cJSON_AddItemToArray(arr, o);
            }
        tv_msg_set_json(&m, "patients", arr);
        send_msg(h, c->conn, &m);
    }
    lobby_changed(h, r->owner_uid, NULL);
}

static void participant_remove(tv_hub *h, tv_hub_participant *p)
{
    tv_hub_room *r = p->room;
    tv_hub_participant **pp = &r->members;
    while (*pp && *pp != p)
        pp = &(*pp)->next;
    if (*pp)
        *pp = p->next;
    if (p->conn)
        p->conn->p = NULL;
    sodium_memzero(p, sizeof *p);
    free(p);
    h->participant_count--;
    room_free_if_empty(h, r);
}

static tv_hub_participant *member(tv_hub_room *r, const char *id)
{
    for (tv_hub_participant *p = r->members; p; p = p->next)
        if (strcmp(p->id, id) == 0)
            return p;
    return NULL;
}

/* Everyone is told, every connection closes, the room goes; the visit is closed in the database. */
static void room_end(tv_hub *h, tv_hub_room *r, const char *reason, int64_t now, int update_db)
{
    int64_t owner = r->owner_uid;
    if (update_db) {
        sqlite3_stmt *q = NULL;
        if (sqlite3_prepare_v2(h->st->db, "UPDATE visits SET state = 'ended', ended_ms = ? WHERE id = ? AND state = 'open'",
                               -1, &q, NULL) == SQLITE_OK) {
            sqlite3_bind_int64(q, 1, now);
            sqlite3_bind_text(q, 2, r->visit, -1, SQLITE_TRANSIENT);
            sqlite3_step(q);
        }
        sqlite3_finalize(q);
    }
    while (r->members) {
        tv_hub_participant *p = r->members;
        int last = p->next == NULL;
        if (p->conn) {
            send_simple(h, p->conn, TV_MSG_ENDED, "reason", reason);
            conn_close(h, p->conn);
        }
        participant_remove(h, p);   /* frees r with the last one */
        if (last)
            break;
    }
    lobby_changed(h, owner, NULL);
}

/* ---- visits in the database ---- */

typedef struct visit_row { char id[65]; int64_t owner, expires; char state[12]; } visit_row;

/* One visit by its invite token's hash or by its id. */
static int visit_lookup(tv_hub *h, const char *token, const char *id, visit_row *v)
{
    uint8_t hash[TV_TOKEN_HASHBYTES];
    if (token && tv_token_hash(token, TV_TOKEN_CHARS, hash, sizeof hash) != 0)
        return TV_ERR_NOT_FOUND;
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(h->st->db, token ? "SELECT id, clinician_id, expires_ms, state FROM visits WHERE token_hash = ?"
                                            : "SELECT id, clinician_id, expires_ms, state FROM visits WHERE id = ?",
                           -1, &q, NULL) != SQLITE_OK)
        return TV_ERR_STORAGE;
    if (token)
        sqlite3_bind_blob(q, 1, hash, sizeof hash, SQLITE_TRANSIENT);
    else
        sqlite3_bind_text(q, 1, id, -1, SQLITE_TRANSIENT);
    int rc = TV_ERR_NOT_FOUND;
    if (sqlite3_step(q) == SQLITE_ROW) {
        snprintf(v->id, sizeof v->id, "%s", (const char *)sqlite3_column_text(q, 0));
        v->owner = sqlite3_column_int64(q, 1);
        v->expires = sqlite3_column_int64(q, 2);
        snprintf(v->state, sizeof v->state, "%s", (const char *)sqlite3_column_text(q, 3));
        rc = 0;
    }
    sqlite3_finalize(q);
    return rc;
}

/* ---- joining ---- */

static void refuse(tv_hub *h, tv_hub_conn *c, int code, const char *message, const char *ref)
{
    send_error(h, c, code, message, ref);
    conn_close(h, c);
}

static void send_joined(tv_hub *h, tv_hub_participant *p, const char *resume, int64_t now)
{
    tv_msg m;
    tv_msg_init(&m, TV_MSG_JOINED, TV_MSG_FROM_SERVER);
    tv_msg_set_str(&m, "visit", p->room->visit, strlen(p->room->visit));
    tv_msg_set_str(&m, "you", p->id, strlen(p->id));
    tv_msg_set_str(&m, "role", role_names[p->role], strlen(role_names[p->role]));
    tv_msg_set_str(&m, "state", p->admitted ? "admitted" : "waiting", p->admitted ? 8 : 7);
    tv_msg_set_str(&m, "resume", resume, TV_TOKEN_CHARS);
    char label[96];
    snprintf(label, sizeof label, "%s-%s", p->room->visit, p->id);
    cJSON *ice = tv_turn_ice_servers(h->cfg->turn_urls, h->cfg->turn_secret, h->cfg->turn_ttl_s, now / 1000, label);
    int turn = 0;
    for (cJSON *s = ice ? ice->child : NULL; s; s = s->next)
        turn |= cJSON_GetObjectItem(s, "credential") != NULL;
    tv_msg_set_json(&m, "ice_servers", ice);
    if (p->admitted) {
        cJSON *peers = cJSON_CreateArray();
        int n = 0;
        for (tv_hub_participant *q = p->room->members; q; q = q->next)
            if (q != p && q->admitted && q->conn && n++ < TV_HUB_ADMITTED_MAX) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "id", q->id);
                cJSON_AddStringToObject(o, "role", role_names[q->role]);
                if (q->name[0])
                    cJSON_AddStringToObject(o, "name", q->name);
                cJSON_AddItemToArray(peers, o);
            }
        tv_msg_set_json(&m, "peers", peers);
    }
    send_msg(h, p->conn, &m);
    if (turn) {
        char extra[96];
        snprintf(extra, sizeof extra, "{\"ttl_s\":%d}", h->cfg->turn_ttl_s);
        audit(h, now, "turn_credential_issued", p, p->room->visit, "TURN credential issued", extra);
    }
}

static int new_resume(tv_hub_participant *p, char resume[TV_TOKEN_STRBYTES])
{
    if (tv_token_generate(resume, TV_TOKEN_STRBYTES) != 0)
        return TV_ERR_INVALID;
    return tv_token_hash(resume, TV_TOKEN_CHARS, p->resume_hash, sizeof p->resume_hash);
}

/* A participant takes its place back with its resume token (same role, same visit). */
static tv_hub_participant *resumable(tv_hub_room *r, const char *token, int role)
{
    if (token == NULL || r == NULL)
        return NULL;
    uint8_t hash[TV_TOKEN_HASHBYTES];
    if (tv_token_hash(token, TV_TOKEN_CHARS, hash, sizeof hash) != 0)
        return NULL;
    for (tv_hub_participant *p = r->members; p; p = p->next)
        if (p->role == role && sodium_memcmp(p->resume_hash, hash, sizeof hash) == 0)
            return p;
    return NULL;
}

static void h_join(tv_hub *h, tv_hub_conn *c, tv_msg *m, const char *ref, int64_t now)
{
    const char *role_s = tv_msg_get_str(m, "role", NULL);
    int role = strcmp(role_s, "clinician") == 0 ? CLINICIAN : PATIENT;
    visit_row v;
    int64_t uid = 0;
    if (role == PATIENT) {
        const char *invite = tv_msg_get_str(m, "invite", NULL);
        if (visit_lookup(h, invite, NULL, &v) != 0)
            return refuse(h, c, TV_ERR_NOT_FOUND, "This visit link is not valid. Check it, or ask for a new one.", ref);
        if (strcmp(v.state, "open") != 0 || v.expires < now)
            return refuse(h, c, TV_ERR_VISIT_CLOSED,
                          strcmp(v.state, "revoked") == 0 ? "This visit link was withdrawn."
                          : strcmp(v.state, "ended") == 0 ? "This visit has ended."
                                                          : "This visit link has expired. Ask for a new one.", ref);
    } else {
        /* opening the visit is the clinician's act; coming back with `resume` is the page reconnecting
         * by itself, which must not keep a forgotten session alive */
        int touch = tv_msg_get_str(m, "resume", NULL) == NULL;
        int rc = c->session[0] ? tv_api_session_user(h->api, h->st, c->session, c->ip, now, touch, &uid) : TV_ERR_UNAUTHORIZED;
        if (rc == TV_ERR_TOTP_REQUIRED)
            return refuse(h, c, rc, "Set up two-factor authentication first.", ref);
        if (rc != 0)
            return refuse(h, c, TV_ERR_UNAUTHORIZED, "Sign in first.", ref);
        /* someone else's visit looks like one that does not exist */
        if (visit_lookup(h, NULL, tv_msg_get_str(m, "visit", NULL), &v) != 0 || v.owner != uid)
            return refuse(h, c, TV_ERR_NOT_FOUND, "No visit of yours has this id.", ref);
        if (strcmp(v.state, "open") != 0)
            return refuse(h, c, TV_ERR_VISIT_CLOSED, "This visit has ended.", ref);
    }
    tv_hub_room *r = room_get(h, v.id, v.owner);
    if (r == NULL)
        return refuse(h, c, TV_ERR_NOMEM, "The server is out of memory.", ref);
    char resume[TV_TOKEN_STRBYTES];
    tv_hub_participant *p = resumable(r, tv_msg_get_str(m, "resume", NULL), role);
    if (p && (role == PATIENT || p->uid == uid)) {
        if (p->conn) {   /* the same participant from a new connection: the old one is replaced */
            send_simple(h, p->conn, TV_MSG_ENDED, "reason", "replaced");
            conn_close(h, p->conn);
            p->conn->p = NULL;
        }
        p->conn = c;
        c->p = p;
        p->gone_ms = 0;
        new_resume(p, resume);
        send_joined(h, p, resume, now);
        if (p->admitted)
            to_admitted(h, r, p, TV_MSG_PEER_JOINED, p, NULL);
        if (p->role == CLINICIAN || !p->admitted)
            waiting_room_update(h, r);
        sodium_memzero(resume, sizeof resume);
        return;
    }
    int waiting = 0, admitted = 0;
    for (tv_hub_participant *q = r->members; q; q = q->next)
        q->admitted ? admitted++ : waiting++;
    if ((role == PATIENT && waiting >= TV_HUB_WAITING_MAX) || (role == CLINICIAN && admitted >= TV_HUB_ADMITTED_MAX)) {
        room_free_if_empty(h, r);
        return refuse(h, c, TV_ERR_BUSY, "This visit is full.", ref);
    }
    p = calloc(1, sizeof *p);
    uint8_t raw[10];
    size_t n;
    randombytes_buf(raw, sizeof raw);
    if (p == NULL || tv_base32_encode(raw, sizeof raw, 0, p->id, sizeof p->id, &n) != 0 || new_resume(p, resume) != 0) {
        free(p);
        room_free_if_empty(h, r);
        return refuse(h, c, TV_ERR_NOMEM, "The server is out of memory.", ref);
    }
    for (char *s = p->id; *s; s++)
        *s = (char)(*s >= 'A' && *s <= 'Z' ? *s + 32 : *s);
    p->role = role;
    p->uid = uid;
    p->admitted = role == CLINICIAN;
    p->since_ms = now;
    if (role == PATIENT)
        snprintf(p->name, sizeof p->name, "%s", tv_msg_get_str(m, "name", NULL));
    p->room = r;
    p->conn = c;
    c->p = p;
    p->next = r->members;
    r->members = p;
    h->participant_count++;
    send_joined(h, p, resume, now);
    sodium_memzero(resume, sizeof resume);
    if (role == CLINICIAN) {
        to_admitted(h, r, p, TV_MSG_PEER_JOINED, p, NULL);
        audit(h, now, "session_requested", p, r->visit, "clinician joined the visit", "{\"role\":\"clinician\"}");
    } else {
        audit(h, now, "session_requested", p, r->visit, "patient entered the waiting room", "{\"role\":\"patient\"}");
    }
    waiting_room_update(h, r);
}

/* ---- the clinician's decisions ---- */

static tv_hub_participant *waiting_patient(tv_hub *h, tv_hub_conn *c, tv_msg *m, const char *ref)
{
    tv_hub_participant *t = member(c->p->room, tv_msg_get_str(m, "participant", NULL));
    if (t == NULL || t->role != PATIENT || t->admitted) {
        send_error(h, c, TV_ERR_NOT_FOUND, "Nobody with this id is waiting.", ref);
        return NULL;
    }
    return t;
}

static void h_admit(tv_hub *h, tv_hub_conn *c, tv_msg *m, const char *ref, int64_t now)
{
    tv_hub_participant *t = waiting_patient(h, c, m, ref);
    if (t == NULL)
        return;
    t->admitted = 1;
    if (t->conn) {
        send_simple(h, t->conn, TV_MSG_ADMITTED, NULL, NULL);
        for (tv_hub_participant *q = t->room->members; q; q = q->next)
            if (q != t && q->admitted && q->conn)
                peer_message(h, t->conn, TV_MSG_PEER_JOINED, q, NULL);
    }
    to_admitted(h, t->room, t, TV_MSG_PEER_JOINED, t, NULL);
    waiting_room_update(h, t->room);
    char extra[64];
    snprintf(extra, sizeof extra, "{\"participant\":\"%s\"}", t->id);
    audit(h, now, "session_accepted", c->p, t->room->visit, "patient admitted", extra);
}

/* t leaves the waiting room refused, by its visit's clinician (from the visit or from a dashboard). */
static void deny(tv_hub *h, tv_hub_conn *c, int64_t uid, tv_hub_participant *t, tv_msg *m, int64_t now)
{
    if (t->conn) {
        size_t rl = 0;
        const char *reason = tv_msg_get_str(m, "reason", &rl);
        tv_msg d;
        tv_msg_init(&d, TV_MSG_DENIED, TV_MSG_FROM_SERVER);
        if (reason)
            tv_msg_set_str(&d, "reason", reason, rl);
        send_msg(h, t->conn, &d);
        conn_close(h, t->conn);
    }
    char who[40], extra[80];
    snprintf(who, sizeof who, "user:%lld", (long long)uid);
    snprintf(extra, sizeof extra, "{\"participant\":\"%s\"%s}", t->id, c->p ? "" : ",\"from\":\"dashboard\"");
    audit_as(h, now, "session_denied", who, c->ip, t->room->visit, "patient denied", extra);
    tv_hub_room *r = t->room;
    int64_t owner = r->owner_uid;
    int others = r->members != t || t->next != NULL;
    participant_remove(h, t);
    if (others)
        waiting_room_update(h, r);
    else
        lobby_changed(h, owner, NULL);
}

static void h_deny(tv_hub *h, tv_hub_conn *c, tv_msg *m, const char *ref, int64_t now)
{
    tv_hub_participant *t = waiting_patient(h, c, m, ref);
    if (t)
        deny(h, c, c->p->uid, t, m, now);
}

/* ---- a dashboard watching its clinician's waiting rooms ---- */

static void h_watch(tv_hub *h, tv_hub_conn *c, tv_msg *m, const char *ref, int64_t now)
{
    (void)m;
    int64_t uid = 0;
    /* not activity: a lobby that reconnects by itself must not keep a forgotten session alive */
    int rc = c->session[0] ? tv_api_session_user(h->api, h->st, c->session, c->ip, now, 0, &uid) : TV_ERR_UNAUTHORIZED;
    if (rc == TV_ERR_TOTP_REQUIRED)
        return refuse(h, c, rc, "Set up two-factor authentication first.", ref);
    if (rc != 0 || uid <= 0)
        return refuse(h, c, TV_ERR_UNAUTHORIZED, "Sign in first.", ref);
    c->watch_uid = uid;
    c->watch_next = h->watchers;
    h->watchers = c;
    lobby_changed(h, uid, c);
}

/* A dashboard stops watching. */
static void h_unwatch(tv_hub *h, tv_hub_conn *c, tv_msg *m, const char *ref, int64_t now)
{
    (void)m, (void)ref, (void)now;
    unwatch(h, c);
    conn_close(h, c);
}

/* A dashboard denies a patient waiting in any of its clinician's visits. */
static void h_dashboard_deny(tv_hub *h, tv_hub_conn *c, tv_msg *m, const char *ref, int64_t now)
{
    const char *id = tv_msg_get_str(m, "participant", NULL);
    tv_hub_participant *t = NULL;
    for (size_t b = 0; b < TV_HUB_ROOM_BUCKETS && t == NULL; b++)
        for (tv_hub_room *r = h->rooms[b]; r && t == NULL; r = r->next)
            if (r->owner_uid == c->watch_uid) {   /* another clinician's patient is nobody here */
                t = member(r, id);
                if (t && (t->role != PATIENT || t->admitted))
                    t = NULL;
            }
    if (t == NULL)
        send_error(h, c, TV_ERR_NOT_FOUND, "Nobody with this id is waiting.", ref);
    else
        deny(h, c, c->watch_uid, t, m, now);
}

/* A watching dashboard whose session ended (signed out, timed out, password changed) closes: the
 * lobby holds patients' names, and being watched is no reason for a session to live on. */
static void watchers_recheck(tv_hub *h, int64_t uid, int64_t now)
{
    int64_t still;
    for (tv_hub_conn *w = h->watchers; w; w = w->watch_next)
        if ((uid == 0 || w->watch_uid == uid) && !w->closing &&
            tv_api_session_user(h->api, h->st, w->session, w->ip, now, 0, &still) != 0) {
            send_error(h, w, TV_ERR_UNAUTHORIZED, "You were signed out.", NULL);
            conn_close(h, w);
        }
}

/* A clinician in a call: its connection and an admitted patient's are both there. Its own other
 * devices in the visit are no call. */
static int in_call(const tv_hub_participant *p)
{
    if (p->role != CLINICIAN || p->conn == NULL)
        return 0;
    for (const tv_hub_participant *q = p->room->members; q; q = q->next)
        if (q->role == PATIENT && q->admitted && q->conn)
            return 1;
    return 0;
}

/* The clinicians in visits. A connected call is activity: its session's clock is refreshed, so a long
 * call does not leave the console signed out (signaling itself never touches it). A visit open with
 * nobody in the call is not. A clinician whose session has ended (timed out, signed out, past its
 * lifetime) is closed, as a watching dashboard is: the waiting room shows patients' names, and an
 * unattended console must not go on admitting. */
static void clinicians_recheck(tv_hub *h, int64_t now)
{
    int64_t still;
    for (size_t b = 0; b < TV_HUB_ROOM_BUCKETS; b++)
        for (tv_hub_room *r = h->rooms[b]; r; r = r->next)
            for (tv_hub_participant *p = r->members; p; p = p->next)
                if (p->role == CLINICIAN && p->conn && !p->conn->closing &&
                    tv_api_session_user(h->api, h->st, p->conn->session, p->conn->ip, now, in_call(p), &still) != 0) {
                    send_error(h, p->conn, TV_ERR_UNAUTHORIZED, "You were signed out.", NULL);
                    conn_close(h, p->conn);
                }
}

/* ---- in the call ---- */

static int chat_store(tv_hub *h, tv_hub_participant *p, const char *text, size_t len, int64_t ts)
{
    if (h->cfg->chat_retention_days == 0)
        return 0;
    sqlite3 *db = h->st->db;
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return TV_ERR_STORAGE;
    char sender[40];
    snprintf(sender, sizeof sender, "%s:%s", role_names[p->role], p->id);
    sqlite3_stmt *q = NULL;
    int rc = TV_ERR_STORAGE;
    if (sqlite3_prepare_v2(db, "INSERT INTO chat (visit_id, sender, ts_ms, body) VALUES (?, ?, ?, x'')", -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, p->room->visit, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 2, sender, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 3, ts);
        rc = sqlite3_step(q) == SQLITE_DONE ? 0 : TV_ERR_STORAGE;
    }
    sqlite3_finalize(q);
    int64_t row = sqlite3_last_insert_rowid(db);
    uint8_t *sealed = rc == 0 ? malloc(len + TV_RECORD_OVERHEAD) : NULL;
    size_t sl = 0;
    if (rc == 0)
        rc = sealed ? tv_store_seal(h->st, TV_RECORD_CHAT, "chat", "body", row, (const uint8_t *)text, len, sealed,
                                    len + TV_RECORD_OVERHEAD, &sl)
                    : TV_ERR_NOMEM;
    if (rc == 0) {
        rc = TV_ERR_STORAGE;
        if (sqlite3_prepare_v2(db, "UPDATE chat SET body = ? WHERE id = ?", -1, &q, NULL) == SQLITE_OK) {
            sqlite3_bind_blob(q, 1, sealed, (int)sl, SQLITE_TRANSIENT);
            sqlite3_bind_int64(q, 2, row);
            rc = sqlite3_step(q) == SQLITE_DONE ? 0 : TV_ERR_STORAGE;
        }
        sqlite3_finalize(q);
    }
    free(sealed);
    /* FULL synchronous WAL: when COMMIT returns the message is on disk, and only then is it acknowledged */
    if (rc == 0 && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        return 0;
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return TV_ERR_STORAGE;
}

/* The member a relayed message names in `to` (NULL: every other admitted member). -1: nobody, and
 * the sender was told. */
static int relay_target(tv_hub *h, tv_hub_conn *c, tv_msg *m, const char *ref, tv_hub_participant **to)
{
    *to = NULL;
    const char *to_id = tv_msg_get_str(m, "to", NULL);
    if (to_id == NULL)
        return 0;
    tv_hub_participant *t = member(c->p->room, to_id);
    if (t == NULL || t == c->p || !t->admitted || t->conn == NULL) {
        send_error(h, c, TV_ERR_NOT_FOUND, "Nobody in this call has this id.", ref);
        return -1;
    }
    *to = t;
    return 0;
}

/* Forwards m, from c, to `to` or to every other admitted member. -1: it could not be, and the sender
 * was told. */
static int relay_forward(tv_hub *h, tv_hub_conn *c, tv_msg *m, const char *ref, tv_hub_participant *to, int64_t now)
{
    tv_hub_participant *p = c->p;
    size_t n;
    if (tv_msg_relay(m, p->id, strlen(p->id), now) != 0 || tv_msg_serialize(m, h->out, sizeof h->out, &n) != 0) {
        send_error(h, c, TV_ERR_MSG_TOO_LARGE, "This message cannot be forwarded.", ref);
        return -1;
    }
    if (to)
        send_raw(h, to->conn, h->out, n);
    else
        for (tv_hub_participant *q = p->room->members; q; q = q->next)
            if (q != p && q->admitted && q->conn)
                send_raw(h, q->conn, h->out, n);
    return 0;
}

/* Call setup: offer, answer, ice, e2ee_commit, e2ee_key go through as they are. */
static void h_relay(tv_hub *h, tv_hub_conn *c, tv_msg *m, const char *ref, int64_t now)
{
    tv_hub_participant *to;
    if (relay_target(h, c, m, ref, &to) == 0)
        relay_forward(h, c, m, ref, to, now);
}

static void h_media_state(tv_hub *h, tv_hub_conn *c, tv_msg *m, const char *ref, int64_t now)
{
    tv_hub_participant *p = c->p, *to;
    if (relay_target(h, c, m, ref, &to) != 0)
        return;
    int screen = 0;
    if (tv_msg_get_bool(m, "screen", &screen) == 0 && screen && !p->screen_shared) {
        /* a shared screen is the call's document sharing: audited once per call (a new call clears
         * it), so toggling cannot turn messages into synced writes on the event loop */
        audit(h, now, "document_shared", p, p->room->visit, "screen shared with the call", "{\"kind\":\"screen\"}");
        p->screen_shared = 1;
    }
    relay_forward(h, c, m, ref, to, now);
}

/* Chat is on disk before it is forwarded, and acknowledged once forwarded. */
static void h_chat(tv_hub *h, tv_hub_conn *c, tv_msg *m, const char *ref, int64_t now)
{
    tv_hub_participant *to;
    if (relay_target(h, c, m, ref, &to) != 0)
        return;
    size_t len = 0;
    const char *text = tv_msg_get_str(m, "text", &len);
    char cid[65];
    snprintf(cid, sizeof cid, "%s", tv_msg_get_str(m, "cid", NULL));
    if (chat_store(h, c->p, text, len, now) != 0) {
        send_error(h, c, TV_ERR_STORAGE, "The message could not be saved; it was not sent.", ref);
        return;
    }
    if (relay_forward(h, c, m, ref, to, now) != 0)
        return;
    tv_msg a;
    tv_msg_init(&a, TV_MSG_CHAT_ACK, TV_MSG_FROM_SERVER);
    tv_msg_set_str(&a, "cid", cid, strlen(cid));
    tv_msg_set_int(&a, "ts", now);
    send_msg(h, c, &a);
}

static void h_sas(tv_hub *h, tv_hub_conn *c, tv_msg *m, const char *ref, int64_t now)
{
    (void)ref;
    int match = 0;
    tv_msg_get_bool(m, "match", &match);
    tv_hub_room *r = c->p->room;
    if (match) {
        if (!c->p->sas_audited)
            audit(h, now, "sas_verified", c->p, r->visit, "the participant confirmed the security code matches", NULL);
        c->p->sas_audited = 1;
        return;
    }
    audit(h, now, "sas_mismatch", c->p, r->visit, "security codes did not match: the visit was ended", NULL);
    room_end(h, r, "sas_mismatch", now, 1);
}

static void h_ice_path(tv_hub *h, tv_hub_conn *c, tv_msg *m, const char *ref, int64_t now)
{
    (void)ref;
    cJSON *e = cJSON_CreateObject();
    static const char *const keys[] = { "local", "remote", "protocol", "relay_protocol" };
    for (int i = 0; i < 4; i++) {
        const char *v = tv_msg_get_str(m, keys[i], NULL);
        if (v)
            cJSON_AddStringToObject(e, keys[i], v);
    }
    char *extra = cJSON_PrintUnformatted(e);
    cJSON_Delete(e);
    if (extra && strcmp(extra, c->p->path_audited) != 0) {   /* only a path that changed */
        audit(h, now, "ice_path_selected", c->p, c->p->room->visit, "media path selected", extra);
        snprintf(c->p->path_audited, sizeof c->p->path_audited, "%s", extra);
    }
    free(extra);
}

static void h_leave(tv_hub *h, tv_hub_conn *c, tv_msg *m, const char *ref, int64_t now)
{
    (void)m, (void)ref;
    tv_hub_participant *p = c->p;
    tv_hub_room *r = p->room;
    if (p->admitted)
        to_admitted(h, r, p, TV_MSG_PEER_LEFT, p, "left");
    audit(h, now, p->admitted ? "session_ended" : "session_aborted", p, r->visit,
          p->admitted ? "participant left the call" : "patient left the waiting room", NULL);
    int was_waiting = !p->admitted;
    int64_t owner = r->owner_uid;
    int others = r->members != p || p->next != NULL;
    participant_remove(h, p);
    conn_close(h, c);
    if (was_waiting && others)
        waiting_room_update(h, r);
    else if (was_waiting)
        lobby_changed(h, owner, NULL);
}

static void h_end(tv_hub *h, tv_hub_conn *c, tv_msg *m, const char *ref, int64_t now)
{
    (void)m, (void)ref;
    audit(h, now, "session_ended", c->p, c->p->room->visit, "visit ended by the clinician", NULL);
    room_end(h, c->p->room, "clinician_ended", now, 1);
}

static void h_ping(tv_hub *h, tv_hub_conn *c, tv_msg *m, const char *ref, int64_t now)
{
    (void)ref, (void)now;
    tv_msg p;
    int64_t ts;
    tv_msg_init(&p, TV_MSG_PONG, TV_MSG_FROM_SERVER);
    if (tv_msg_get_int(m, "ts", &ts) == 0)
        tv_msg_set_int(&p, "ts", ts);
    send_msg(h, c, &p);
}

/* ---- the dispatch table ---- */

/* One signature for every handler: the message is valid (parsed against its schema), the connection
 * meets the row's precondition, and `ref` is the message's `id` (NULL without one) for its errors. */
typedef void hub_handler(tv_hub *h, tv_hub_conn *c, tv_msg *m, const char *ref, int64_t now);

typedef struct hub_route {
    tv_msg_type type;
    tv_hub_pre pre;
    hub_handler *fn;        /* NULL: always refused (forbidden), with `refusal` */
    const char *refusal;    /* what a connection that may not is told (TV_HUB_UNUSED, TV_HUB_CLINICIAN, fn NULL) */
} hub_route;

/* Every message a browser may send, what the connection must be, and who handles it. A watching
 * connection (a dashboard) takes its own TV_HUB_WATCHING row of a type if there is one, and otherwise
 * the type's other row, whose TV_HUB_JOINED and stronger preconditions it never meets. Every message
 * has gone through the connection's rate limit before (the type is not known until the parse); a
 * type without a row is refused (msg_wrong_direction). */
static const hub_route routes[] = {
    { TV_MSG_PING, TV_HUB_ANY, h_ping, NULL },
    { TV_MSG_JOIN, TV_HUB_UNUSED, h_join, "This connection is already in use: open another one to join." },
    { TV_MSG_WATCH, TV_HUB_UNUSED, h_watch, "This connection is already in use: open another one to watch." },
    /* a dashboard denies its clinician's waiting patients but does not admit: admitting starts the
     * call, which the visit's own connection joins */
    { TV_MSG_LEAVE, TV_HUB_WATCHING, h_unwatch, NULL },
    { TV_MSG_DENY, TV_HUB_WATCHING, h_dashboard_deny, NULL },
    { TV_MSG_ADMIT, TV_HUB_WATCHING, NULL, "Open the visit to admit a patient: admitting starts the call." },
    /* a visit's connection: a patient may leave the waiting room, anything else waits for admission */
    { TV_MSG_LEAVE, TV_HUB_JOINED, h_leave, NULL },
    { TV_MSG_ADMIT, TV_HUB_CLINICIAN, h_admit, "Only the clinician can do this." },
    { TV_MSG_DENY, TV_HUB_CLINICIAN, h_deny, "Only the clinician can do this." },
    { TV_MSG_END, TV_HUB_CLINICIAN, h_end, "Only the clinician can end the visit." },
    { TV_MSG_SAS_RESULT, TV_HUB_ADMITTED, h_sas, NULL },
    { TV_MSG_ICE_PATH, TV_HUB_ADMITTED, h_ice_path, NULL },
    /* relayed to the other admitted members of the same visit (or the one named in `to`) */
    { TV_MSG_OFFER, TV_HUB_ADMITTED, h_relay, NULL },
    { TV_MSG_ANSWER, TV_HUB_ADMITTED, h_relay, NULL },
    { TV_MSG_ICE, TV_HUB_ADMITTED, h_relay, NULL },
    { TV_MSG_E2EE_COMMIT, TV_HUB_ADMITTED, h_relay, NULL },
    { TV_MSG_E2EE_KEY, TV_HUB_ADMITTED, h_relay, NULL },
    { TV_MSG_MEDIA_STATE, TV_HUB_ADMITTED, h_media_state, NULL },
    { TV_MSG_CHAT, TV_HUB_ADMITTED, h_chat, NULL },
};

static const hub_route *route_of(tv_msg_type t, int watching)
{
    const hub_route *other = NULL;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (routes[i].type == t) {
            if ((routes[i].pre == TV_HUB_WATCHING) == (watching != 0))
                return &routes[i];
            if (routes[i].pre != TV_HUB_WATCHING)
                other = &routes[i];
        }
    return other;
}

/* 0 when c may send a message of r's type; otherwise the refusal's code, with its text in *why. */
static int unmet(const tv_hub_conn *c, const hub_route *r, const char **why)
{
    switch (r->pre) {
    case TV_HUB_ANY:
    case TV_HUB_WATCHING:   /* only a watching connection's lookup finds such a row */
        break;
    case TV_HUB_UNUSED:
        if (c->p == NULL && c->watch_uid == 0)
            break;
        *why = c->p && r->type == TV_MSG_JOIN ? "This connection has already joined." : r->refusal;
        return TV_ERR_CONFLICT;
    case TV_HUB_JOINED:
    case TV_HUB_ADMITTED:
    case TV_HUB_CLINICIAN:
        if (c->p == NULL) {
            *why = "Join a visit first.";
            return TV_ERR_NOT_ADMITTED;
        }
        if (r->pre != TV_HUB_JOINED && !c->p->admitted) {
            *why = "Wait until the clinician lets you in.";
            return TV_ERR_NOT_ADMITTED;
        }
        if (r->pre == TV_HUB_CLINICIAN && c->p->role != CLINICIAN) {
            *why = r->refusal;
            return TV_ERR_FORBIDDEN;
        }
        break;
    }
    if (r->fn == NULL) {
        *why = r->refusal;
        return TV_ERR_FORBIDDEN;
    }
    return 0;
}

int tv_hub_route_pre(tv_msg_type t, int watching, tv_hub_pre *pre)
{
    const hub_route *r = route_of(t, watching);
    if (r == NULL)
        return TV_ERR_NOT_FOUND;
    if (pre)
        *pre = r->pre;
    return 0;
}

/* ---- entry points ---- */

void tv_hub_connect(tv_hub *h, tv_hub_conn *c, const char *ip, const char *session, int64_t now_ms)
{
    memset(c->ip, 0, sizeof c->ip);
    snprintf(c->ip, sizeof c->ip, "%s", ip ? ip : "");
    snprintf(c->session, sizeof c->session, "%s", session ? session : "");
    c->p = NULL;
    c->watch_uid = 0;
    c->watch_next = NULL;
    c->closing = 0;
    tv_bucket_fill(&c->rate, TV_HUB_RATE_BURST_S * h->cfg->msg_per_second, now_ms);
}

static void refused(tv_hub *h, tv_hub_conn *c, int code, const char *field)
{
    char msg[160];
    snprintf(msg, sizeof msg, "The message was refused (%s%s%s).", tv_err_name(code), field[0] ? ": " : "", field);
    send_error(h, c, code, msg, NULL);
}

void tv_hub_refused(tv_hub *h, tv_hub_conn *c, int code)
{
    if (!c->closing)
        refused(h, c, code, "");
}

void tv_hub_message(tv_hub *h, tv_hub_conn *c, const char *text, size_t len, int64_t now)
{
    if (c->closing)
        return;
    /* every message counts against the rate, whatever its type: it is taken before the parse */
    if (!tv_bucket_take(&c->rate, TV_HUB_RATE_BURST_S * h->cfg->msg_per_second, h->cfg->msg_per_second / 1000.0, now, NULL)) {
        send_error(h, c, TV_ERR_RATE_LIMITED, "Too many messages: this one was dropped.", NULL);
        return;
    }
    tv_msg m;
    int rc = tv_msg_parse(text, len, TV_MSG_FROM_CLIENT, &m);
    if (rc != 0) {
        refused(h, c, rc, m.err_field);
        return;
    }
    char ref[65] = "";
    const char *id = tv_msg_get_str(&m, "id", NULL);
    if (id)
        snprintf(ref, sizeof ref, "%s", id);
    const char *r = ref[0] ? ref : NULL;
    const hub_route *rt = route_of(m.type, c->watch_uid != 0);
    const char *why = "The server does not take this message.";
    int code = rt ? unmet(c, rt, &why) : TV_ERR_MSG_DIRECTION;
    if (code != 0)
        send_error(h, c, code, why, r);
    else
        rt->fn(h, c, &m, r, now);
    tv_msg_free(&m);
}

void tv_hub_disconnect(tv_hub *h, tv_hub_conn *c, int64_t now)
{
    tv_hub_participant *p = c->p;
    c->p = NULL;
    if (c->watch_uid)
        unwatch(h, c);
    sodium_memzero(c->session, sizeof c->session);   /* a bearer token: not left in freed memory */
    if (p == NULL || p->conn != c)
        return;
    p->conn = NULL;
    p->gone_ms = now ? now : 1;
    if (p->admitted)
        to_admitted(h, p->room, p, TV_MSG_PEER_LEFT, p, "disconnected");
    else
        waiting_room_update(h, p->room);
}

void tv_hub_tick(tv_hub *h, int64_t now)
{
    for (size_t b = 0; b < TV_HUB_ROOM_BUCKETS; b++) {
        tv_hub_room *r = h->rooms[b];
        while (r) {
            tv_hub_room *next = r->next;
            tv_hub_participant *p = r->members;
            while (p) {
                tv_hub_participant *pn = p->next;
                int last = pn == NULL && r->members == p;
                if (p->conn == NULL && p->gone_ms && now - p->gone_ms > TV_HUB_RESUME_MS) {
                    audit(h, now, p->admitted ? "session_ended" : "session_aborted", p, r->visit,
                          "connection lost and not resumed", "{\"reason\":\"disconnected\"}");
                    participant_remove(h, p);   /* may free r with its last member */
                    if (last)
                        break;
                }
                p = pn;
            }
            r = next;
        }
    }
    if ((h->watchers || h->participant_count) && now - h->last_watch_check_ms >= TV_HUB_WATCH_CHECK_MS) {
        h->last_watch_check_ms = now;
        watchers_recheck(h, 0, now);
        clinicians_recheck(h, now);
    }
    /* with 0 too: chat kept under an earlier setting goes once the setting says none is kept */
    if (now - h->last_purge_ms > 60000) {
        h->last_purge_ms = now;
        sqlite3_stmt *q = NULL;
        if (sqlite3_prepare_v2(h->st->db, "DELETE FROM chat WHERE ts_ms < ?", -1, &q, NULL) == SQLITE_OK) {
            sqlite3_bind_int64(q, 1, now - (int64_t)h->cfg->chat_retention_days * 86400000);
            sqlite3_step(q);
        }
        sqlite3_finalize(q);
    }
}

void tv_hub_visit_closed(tv_hub *h, const char *visit, const char *reason, int64_t now)
{
    tv_hub_room *r = room_find(h, visit);
    if (r)
        room_end(h, r, reason, now, 0);
}

void tv_hub_user_revoked(tv_hub *h, int64_t uid, int64_t now)
{
    /* The user's sessions changed (signed out everywhere, a new password, the account deleted): the
     * connections whose session is gone close; the device that changed its password keeps its call. */
    int64_t still;
    for (size_t b = 0; b < TV_HUB_ROOM_BUCKETS; b++)
        for (tv_hub_room *r = h->rooms[b]; r; r = r->next)
            for (tv_hub_participant *p = r->members; p; p = p->next)
                if (p->role == CLINICIAN && p->uid == uid && p->conn &&
                    tv_api_session_user(h->api, h->st, p->conn->session, p->conn->ip, now, 0, &still) != 0) {
                    send_error(h, p->conn, TV_ERR_UNAUTHORIZED, "You were signed out.", NULL);
                    conn_close(h, p->conn);
                }
    watchers_recheck(h, uid, now);
}

void tv_hub_shutdown(tv_hub *h, int64_t now)
{
    for (tv_hub_conn *w = h->watchers; w; w = w->watch_next)
        conn_close(h, w);
    for (size_t b = 0; b < TV_HUB_ROOM_BUCKETS; b++)
        while (h->rooms[b])
            room_end(h, h->rooms[b], "server_shutdown", now, 0);
}

const char *tv_hub_conn_participant(const tv_hub_conn *c)
{
    return c && c->p ? c->p->id : NULL;
}

int tv_hub_init(tv_hub *h, const tv_config *cfg, tv_api *api, tv_store *st, tv_hub_io io)
{
    memset(h, 0, sizeof *h);
    h->cfg = cfg;
    h->api = api;
    h->st = st;
    h->io = io;
    return 0;
}

void tv_hub_free(tv_hub *h)
{
    h->watchers = NULL;   /* connections belong to the WebSocket layer */
    for (size_t b = 0; b < TV_HUB_ROOM_BUCKETS; b++)
        while (h->rooms[b]) {
            tv_hub_room *r = h->rooms[b];
            while (h->rooms[b] == r && r->members)
                participant_remove(h, r->members);
        }
}
