/* raft_metrics_json (the monitoring view of one server) and raft_bootstrap_entry (the state
 * of a new cluster in one call): contents, ownership through the raft heap, argument checks. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "support/host.h"
#include "support/scenario.h"

/* The metrics of r as a NUL-terminated string the caller frees with raft_free. */
static char *metrics(struct raft *r, raft_index last_applied)
{
    struct raft_buffer buf = {NULL, 0};
    assert_int_equal(raft_metrics_json(r, last_applied, &buf), 0);
    assert_non_null(buf.base);
    assert_int_equal(strlen(buf.base), buf.len);
    return buf.base;
}

static void assert_contains(const char *text, const char *part)
{
    if (strstr(text, part) == NULL) {
        fail_msg("\"%s\" not found in %s", part, text);
    }
}

static void three_servers(struct raft_configuration *c)
{
    raft_configuration_init(c);
    assert_int_equal(raft_configuration_add(c, 1, "127.0.0.1:7001", RAFT_VOTER), 0);
    assert_int_equal(raft_configuration_add(c, 2, "127.0.0.1:7002", RAFT_VOTER), 0);
    assert_int_equal(raft_configuration_add(c, 3, "127.0.0.1:7003", RAFT_STANDBY), 0);
}

static void bootstrap_entry_holds_the_encoded_configuration(void **state)
{
    (void)state;
    struct raft_configuration c, decoded;
    three_servers(&c);
    struct raft_entry e;
    assert_int_equal(raft_bootstrap_entry(&c, &e), 0);
    assert_true(e.term == 1);
    assert_int_equal(e.type, RAFT_CHANGE);
    assert_ptr_equal(e.batch, e.buf.base);
    struct raft_buffer encoded;
    assert_int_equal(raft_configuration_encode(&c, &encoded), 0);
    assert_int_equal(e.buf.len, encoded.len);
    assert_memory_equal(e.buf.base, encoded.base, encoded.len);
    assert_int_equal(raft_configuration_decode(&e.buf, &decoded), 0);
    assert_int_equal(decoded.n, 3);
    assert_int_equal(decoded.servers[2].role, RAFT_STANDBY);
    raft_configuration_close(&decoded);
    raft_free(encoded.base);
    raft_free(e.batch);
    raft_configuration_close(&c);
}

static void bootstrap_entry_refuses_bad_configurations(void **state)
{
    (void)state;
    struct raft_configuration c;
    struct raft_entry e;
    memset(&e, 0xAB, sizeof e);
    raft_configuration_init(&c);
    assert_int_equal(raft_bootstrap_entry(NULL, &e), RAFT_INVALID);
    assert_int_equal(raft_bootstrap_entry(&c, NULL), RAFT_INVALID);
    assert_int_equal(raft_bootstrap_entry(&c, &e), RAFT_INVALID); /* empty */
    assert_int_equal(raft_configuration_add(&c, 1, "a", RAFT_SPARE), 0);
    assert_int_equal(raft_bootstrap_entry(&c, &e), RAFT_INVALID); /* no voter */
    assert_true(e.term == 0xABABABABABABABABull);                 /* untouched on error */
    raft_configuration_close(&c);
}

static void bootstrapped_single_voter_reports_itself_leader(void **state)
{
    (void)state;
    struct raft_configuration c;
    raft_configuration_init(&c);
    assert_int_equal(raft_configuration_add(&c, 1, "one", RAFT_VOTER), 0);
    struct raft_entry e;
    assert_int_equal(raft_bootstrap_entry(&c, &e), 0);
    struct raft r;
    assert_int_equal(raft_init(&r, NULL, NULL, 1, "one"), 0);
    raft_seed(&r, 1);
    char *before = metrics(&r, 0);
    assert_contains(before, "\"state\":\"follower\"");
    assert_contains(before, "\"role\":null");
    raft_free(before);
    struct raft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_START;
    ev.start.term = 1;
    ev.start.start_index = 1;
    ev.start.entries = &e;
    ev.start.n_entries = 1;
    struct raft_update u;
    assert_int_equal(raft_step(&r, &ev, &u), 0);
    raft_free(e.batch);
    /* It leads a term of its own and hands over a barrier, which commits once durable. */
    assert_true(u.flags & RAFT_UPDATE_ENTRIES);
    raft_index barrier = u.entries.index;
    host_release_update(&u);
    memset(&ev, 0, sizeof ev);
    ev.type = RAFT_PERSISTED_ENTRIES;
    ev.persisted_entries.index = barrier;
    assert_int_equal(raft_step(&r, &ev, &u), 0);
    host_release_update(&u);
    char *after = metrics(&r, 2);
    assert_contains(after, "\"id\":1,\"address\":\"one\",\"state\":\"leader\",\"role\":\"voter\"");
    assert_contains(after, "\"commit_index\":2,\"last_applied\":2");
    assert_contains(after, "\"current_leader\":{\"id\":1,\"address\":\"one\"}");
    assert_contains(after, "\"membership_config\":{\"index\":1,\"committed\":true,");
    assert_contains(after, "\"replication\":[]");
    raft_free(after);
    raft_close(&r, NULL);
    raft_configuration_close(&c);
}

static void leader_metrics_show_each_follower_progress(void **state)
{
    (void)state;
    struct sim *s = scenario_cluster(3, 3, 7);
    int l = scenario_elect(s);
    assert_true(l >= 0);
    assert_true(scenario_commit(s, (unsigned)l, 5));
    raft_index last = scenario_last(s, (unsigned)l);
    char want[128];
    char *leader = metrics(sim_raft(s, (unsigned)l), sim_applied(s, (unsigned)l));
    assert_contains(leader, "\"state\":\"leader\"");
    for (unsigned i = 0; i < 3; i++) {
        if (i == (unsigned)l) {
            continue;
        }
        snprintf(want, sizeof want, "{\"id\":%u,\"address\":", i + 1);
        assert_contains(leader, want);
        snprintf(want, sizeof want, "\"match_index\":%llu,\"next_index\":%llu,\"mode\":\"pipeline\"",
                 (unsigned long long)last, (unsigned long long)last + 1);
        assert_contains(leader, want);
    }
    raft_free(leader);
    unsigned f = ((unsigned)l + 1) % 3;
    char *follower = metrics(sim_raft(s, f), sim_applied(s, f));
    assert_contains(follower, "\"state\":\"follower\"");
    assert_contains(follower, "\"replication\":null");
    snprintf(want, sizeof want, "\"current_leader\":{\"id\":%u,", (unsigned)l + 1);
    assert_contains(follower, want);
    snprintf(want, sizeof want, "\"last_applied\":%llu", (unsigned long long)last);
    assert_contains(follower, want);
    raft_free(follower);
    sim_destroy(s);
}

static void metrics_report_the_snapshot_position(void **state)
{
    (void)state;
    struct sim *s = scenario_cluster(3, 3, 11);
    int l = scenario_elect(s);
    assert_true(l >= 0);
    assert_true(scenario_commit(s, (unsigned)l, 10));
    assert_int_equal(sim_snapshot(s, (unsigned)l, 2), 0);
    raft_index index = sim_applied(s, (unsigned)l);
    char want[96];
    snprintf(want, sizeof want, "\"snapshot_index\":%llu,\"snapshot_term\":%llu",
             (unsigned long long)index, (unsigned long long)raft_current_term(sim_raft(s, (unsigned)l)));
    char *text = metrics(sim_raft(s, (unsigned)l), index);
    assert_contains(text, want);
    raft_free(text);
    sim_destroy(s);
}

static void metrics_refuse_bad_arguments(void **state)
{
    (void)state;
    struct raft_buffer buf = {NULL, 0};
    struct raft r;
    memset(&r, 0, sizeof r);
    assert_int_equal(raft_metrics_json(NULL, 0, &buf), RAFT_INVALID);
    assert_int_equal(raft_metrics_json(&r, 0, &buf), RAFT_INVALID); /* not initialised */
    assert_int_equal(raft_init(&r, NULL, NULL, 1, "a\"b"), 0);
    assert_int_equal(raft_metrics_json(&r, 0, NULL), RAFT_INVALID);
    assert_null(buf.base);
    char *text = metrics(&r, 0);
    assert_contains(text, "\"address\":\"a\\\"b\""); /* escaped */
    raft_free(text);
    raft_close(&r, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bootstrap_entry_holds_the_encoded_configuration),
        cmocka_unit_test(bootstrap_entry_refuses_bad_configurations),
        cmocka_unit_test(bootstrapped_single_voter_reports_itself_leader),
        cmocka_unit_test(leader_metrics_show_each_follower_progress),
        cmocka_unit_test(metrics_report_the_snapshot_position),
        cmocka_unit_test(metrics_refuse_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
