/* raft_apply, raft_barrier and raft_last_applied over memio clusters of 1, 3 and 5 servers. */
#include "testing.h"

#define N_VALUES 10

/* The apply callback sees last_applied at or past its entry, as C-Raft 0.22.1's header
 * documents. C-Raft 0.15 fires the callback before it moves last_applied, so only our library
 * is held to it. */
static struct raft *watched;
static unsigned n_behind;

static void apply_cb_checking_last_applied(struct raft_apply *req, int status, void *result)
{
    if (status == 0 && raft_last_applied(watched) < req->index) {
        n_behind += 1;
    }
    record_apply_cb(req, status, result);
}

/* Every command commits on every server, each callback fires once with status 0 and the
 * FSM's result, in submission order; when idle, every server applied its whole log. */
static void check_apply_commits_everywhere(unsigned n)
{
    struct cluster *c = started_cluster(n);
    int l = cluster_leader(c);
    struct raft_apply reqs[N_VALUES];
    struct cb_record recs[N_VALUES] = {{0}};
    uint64_t values[N_VALUES];
    struct counter expected;
    unsigned i;

    watched = cluster_raft(c, (unsigned)l);
    n_behind = 0;
    for (i = 0; i < N_VALUES; i++) {
        values[i] = 100 + i * 7;
        reqs[i].data = &recs[i];
        assert_int_equal(
            cluster_apply(c, (unsigned)l, &reqs[i], values[i], apply_cb_checking_last_applied),
            0);
    }
    counter_expect(&expected, values, N_VALUES);
    assert_true(cluster_step_until(c, cluster_all_fsms_equal, &expected, 10000));
    assert_true(cluster_step_until(c, cb_fired, &recs[N_VALUES - 1], 1000));

    {
        uint64_t total = 0;
        for (i = 0; i < N_VALUES; i++) {
            total += values[i];
            assert_int_equal(recs[i].calls, 1);
            assert_int_equal(recs[i].status, 0);
            assert_int_equal(recs[i].result, total);
            if (i > 0) {
                assert_true(recs[i].order > recs[i - 1].order);
            }
        }
    }
#ifdef ON_LIBRAFT_RS
    assert_int_equal(n_behind, 0);
#endif

    cluster_step_for(c, 1000);
    for (i = 0; i < n; i++) {
        struct raft *r = cluster_raft(c, i);
        assert_int_equal(raft_last_applied(r), raft_last_index(r));
        assert_true(counter_equal(&c->servers[i].counter, &expected));
    }
    for (i = 0; i < N_VALUES; i++) {
        assert_int_equal(recs[i].calls, 1); /* still once */
    }
    cluster_free(c);
}

static void apply_commits_everywhere_1(void **state)
{
    (void)state;
    check_apply_commits_everywhere(1);
}

static void apply_commits_everywhere_3(void **state)
{
    (void)state;
    check_apply_commits_everywhere(3);
}

static void apply_commits_everywhere_5(void **state)
{
    (void)state;
    check_apply_commits_everywhere(5);
}

/* Several buffers in one raft_apply: every value is applied, in order, one callback. */
static void apply_several_buffers(void **state)
{
    struct cluster *c = started_cluster(3);
    int l = cluster_leader(c);
    struct raft_buffer bufs[3];
    uint64_t values[3] = {5, 6, 7};
    struct raft_apply req;
    struct cb_record rec = {0};
    struct counter expected;
    unsigned i;
    (void)state;

    for (i = 0; i < 3; i++) {
        bufs[i].len = 8;
        bufs[i].base = raft_malloc(8);
        memset(bufs[i].base, 0, 8);
        ((uint8_t *)bufs[i].base)[0] = (uint8_t)values[i];
    }
    req.data = &rec;
    assert_int_equal(raft_apply(cluster_raft(c, (unsigned)l), &req, bufs, 3, record_apply_cb), 0);
    counter_expect(&expected, values, 3);
    assert_true(cluster_step_until(c, cluster_all_fsms_equal, &expected, 10000));
    cluster_step_for(c, 500);
    assert_int_equal(rec.calls, 1);
    assert_int_equal(rec.status, 0);
    cluster_free(c);
}

/* A follower refuses at once; its callback never fires and nothing is applied. */
static void apply_on_follower_is_notleader(void **state)
{
    struct cluster *c = started_cluster(3);
    unsigned f = (unsigned)(cluster_leader(c) + 1) % 3;
    struct raft_apply req;
    struct cb_record rec = {0};
    struct counter none = {0};
    (void)state;

    req.data = &rec;
    assert_int_equal(cluster_apply(c, f, &req, 1, record_apply_cb), RAFT_NOTLEADER);
    cluster_step_for(c, 2000);
    assert_int_equal(rec.calls, 0);
    assert_true(cluster_all_fsms_equal(c, &none));
    cluster_free(c);
}

/* Before raft_start there is no leader: RAFT_NOTLEADER for apply and barrier. */
static void apply_before_start_is_notleader(void **state)
{
    struct cluster *c = cluster_new(1);
    struct raft_apply req;
    struct raft_barrier barrier;
    struct cb_record rec = {0};
    (void)state;

    assert_int_equal(cluster_bootstrap(c, 1), 0);
    req.data = &rec;
    barrier.data = &rec;
    assert_int_equal(cluster_apply(c, 0, &req, 1, record_apply_cb), RAFT_NOTLEADER);
    assert_int_equal(raft_barrier(cluster_raft(c, 0), &barrier, record_barrier_cb),
                     RAFT_NOTLEADER);
    assert_int_equal(raft_last_applied(cluster_raft(c, 0)), 0);
    assert_int_equal(rec.calls, 0);
    cluster_free(c);
}

/* A leader cut off from the others steps down: its pending command fails with
 * RAFT_LEADERSHIPLOST, once; the others elect a leader; after healing every server has the
 * same state, without the lost command. */
static void check_leadership_lost(unsigned n)
{
    struct cluster *c = started_cluster(n);
    unsigned old = (unsigned)cluster_leader(c);
    struct raft_apply req;
    struct cb_record rec = {0};
    uint64_t values[2] = {11, 13};
    struct counter expected;
    int l;

    assert_int_equal(apply_and_wait(c, old, values[0]), 0);
    cluster_isolate(c, old, true);
    req.data = &rec;
    assert_int_equal(cluster_apply(c, old, &req, 999, record_apply_cb), 0);
    assert_true(cluster_step_until(c, cb_fired, &rec, 10000));
    assert_int_equal(rec.status, RAFT_LEADERSHIPLOST);
    assert_int_not_equal(raft_state(cluster_raft(c, old)), RAFT_LEADER);

    l = cluster_wait_leader(c);
    assert_true(l >= 0);
    assert_int_not_equal(l, (int)old);
    assert_int_equal(apply_and_wait(c, (unsigned)l, values[1]), 0);

    cluster_isolate(c, old, false);
    counter_expect(&expected, values, 2);
    assert_true(cluster_step_until(c, cluster_all_fsms_equal, &expected, 10000));
    cluster_step_for(c, 2000);
    assert_true(cluster_all_fsms_equal(c, &expected));
    assert_int_equal(rec.calls, 1);
    cluster_free(c);
}

static void leadership_lost_3(void **state)
{
    (void)state;
    check_leadership_lost(3);
}

static void leadership_lost_5(void **state)
{
    (void)state;
    check_leadership_lost(5);
}

/* A barrier completes with 0 after every command submitted before it was applied. */
static void check_barrier_after_commands(unsigned n)
{
    struct cluster *c = started_cluster(n);
    unsigned l = (unsigned)cluster_leader(c);
    struct raft_apply reqs[3];
    struct cb_record recs[3] = {{0}};
    struct raft_barrier barrier;
    struct cb_record brec = {0};
    unsigned i;

    for (i = 0; i < 3; i++) {
        reqs[i].data = &recs[i];
        assert_int_equal(cluster_apply(c, l, &reqs[i], i + 1, record_apply_cb), 0);
    }
    barrier.data = &brec;
    assert_int_equal(raft_barrier(cluster_raft(c, l), &barrier, record_barrier_cb), 0);
    assert_true(cluster_step_until(c, cb_fired, &brec, 10000));
    assert_int_equal(brec.status, 0);
    assert_int_equal(c->servers[l].counter.count, 3);
    for (i = 0; i < 3; i++) {
        assert_int_equal(recs[i].calls, 1);
        assert_true(recs[i].order < brec.order);
    }
    /* A barrier is not a command: the FSM never sees it. */
    cluster_step_for(c, 1000);
    assert_int_equal(c->servers[l].counter.count, 3);
    assert_int_equal(brec.calls, 1);
    cluster_free(c);
}

static void barrier_after_commands_1(void **state)
{
    (void)state;
    check_barrier_after_commands(1);
}

static void barrier_after_commands_3(void **state)
{
    (void)state;
    check_barrier_after_commands(3);
}

static void barrier_after_commands_5(void **state)
{
    (void)state;
    check_barrier_after_commands(5);
}

static void barrier_on_follower_is_notleader(void **state)
{
    struct cluster *c = started_cluster(3);
    unsigned f = (unsigned)(cluster_leader(c) + 1) % 3;
    struct raft_barrier req;
    struct cb_record rec = {0};
    (void)state;

    req.data = &rec;
    assert_int_equal(raft_barrier(cluster_raft(c, f), &req, record_barrier_cb), RAFT_NOTLEADER);
    cluster_step_for(c, 1000);
    assert_int_equal(rec.calls, 0);
    cluster_free(c);
}

/* last_applied never goes back and reaches the last index once the cluster is idle, on the
 * followers too. */
static void last_applied_follows_commits(void **state)
{
    struct cluster *c = started_cluster(3);
    unsigned l = (unsigned)cluster_leader(c);
    raft_index before[3];
    unsigned i;
    (void)state;

    for (i = 0; i < 3; i++) {
        before[i] = raft_last_applied(cluster_raft(c, i));
    }
    for (i = 0; i < 5; i++) {
        assert_int_equal(apply_and_wait(c, l, i), 0);
    }
    cluster_step_for(c, 1000);
    for (i = 0; i < 3; i++) {
        struct raft *r = cluster_raft(c, i);
        assert_true(raft_last_applied(r) >= before[i] + 5);
        assert_int_equal(raft_last_applied(r), raft_last_index(r));
    }
    cluster_free(c);
}

#ifdef ON_LIBRAFT_RS
/* C-Raft asserts on these (bufs == NULL, n == 0, req == NULL); ours returns RAFT_INVALID and
 * takes nothing. */
static void apply_bad_arguments_are_invalid(void **state)
{
    struct cluster *c = started_cluster(1);
    struct raft *r = cluster_raft(c, 0);
    struct raft_apply req;
    struct raft_buffer buf = {NULL, 0};
    struct cb_record rec = {0};
    (void)state;

    req.data = &rec;
    buf.len = 8;
    buf.base = raft_malloc(8);
    memset(buf.base, 0, 8);
    assert_int_equal(raft_apply(r, &req, NULL, 1, record_apply_cb), RAFT_INVALID);
    assert_int_equal(raft_apply(r, &req, &buf, 0, record_apply_cb), RAFT_INVALID);
    assert_int_equal(raft_apply(r, NULL, &buf, 1, record_apply_cb), RAFT_INVALID);
    assert_int_equal(raft_apply(NULL, &req, &buf, 1, record_apply_cb), RAFT_INVALID);
    assert_int_equal(raft_barrier(r, NULL, record_barrier_cb), RAFT_INVALID);
    assert_int_equal(raft_barrier(NULL, (struct raft_barrier *)&req, record_barrier_cb),
                     RAFT_INVALID);
    raft_free(buf.base); /* Still ours: every call failed. */
    cluster_step_for(c, 500);
    assert_int_equal(rec.calls, 0);
    cluster_free(c);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(apply_commits_everywhere_1),
        cmocka_unit_test(apply_commits_everywhere_3),
        cmocka_unit_test(apply_commits_everywhere_5),
        cmocka_unit_test(apply_several_buffers),
        cmocka_unit_test(apply_on_follower_is_notleader),
        cmocka_unit_test(apply_before_start_is_notleader),
        cmocka_unit_test(leadership_lost_3),
        cmocka_unit_test(leadership_lost_5),
        cmocka_unit_test(barrier_after_commands_1),
        cmocka_unit_test(barrier_after_commands_3),
        cmocka_unit_test(barrier_after_commands_5),
        cmocka_unit_test(barrier_on_follower_is_notleader),
        cmocka_unit_test(last_applied_follows_commits),
#ifdef ON_LIBRAFT_RS
        cmocka_unit_test(apply_bad_arguments_are_invalid),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
