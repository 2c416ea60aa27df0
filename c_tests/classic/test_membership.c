/* raft_add, raft_assign, raft_remove and raft_transfer over memio clusters of 1, 3 and 5. */
#include "testing.h"

static int role_of(struct raft *r, raft_id id)
{
    unsigned i;
    for (i = 0; i < r->configuration.n; i++) {
        if (r->configuration.servers[i].id == id) {
            return r->configuration.servers[i].role;
        }
    }
    return -1;
}

/* Runs a change request until its callback fired; returns its status. */
static int wait_change(struct cluster *c, struct cb_record *rec)
{
    assert_true(cluster_step_until(c, cb_fired, rec, 20000));
    assert_int_equal(rec->calls, 1);
    return rec->status;
}

/* A cluster of n voters plus one started, pristine server (index n) waiting to be added. */
static struct cluster *cluster_with_newcomer(unsigned n, unsigned *leader)
{
    struct cluster *c = cluster_new(n + 1);
    assert_int_equal(cluster_bootstrap(c, n), 0);
    assert_int_equal(cluster_start(c), 0);
    assert_true(cluster_wait_leader(c) >= 0);
    *leader = (unsigned)cluster_leader(c);
    barrier_and_wait(c, *leader);
    return c;
}

/* --- add / assign / remove -------------------------------------------------------------- */

/* A new server is added as a spare, then promoted to voter: both callbacks report 0, the
 * configuration says so, the newcomer has every command, and it now counts in the quorum. */
static void check_add_then_promote(unsigned n)
{
    unsigned l;
    struct cluster *c = cluster_with_newcomer(n, &l);
    struct raft *leader = cluster_raft(c, l);
    raft_id newcomer = c->servers[n].id;
    struct raft_change add, assign;
    struct cb_record add_rec = {0}, assign_rec = {0};
    uint64_t values[2] = {21, 22};
    struct counter expected;

    assert_int_equal(apply_and_wait(c, l, values[0]), 0);
    add.data = &add_rec;
    assert_int_equal(raft_add(leader, &add, newcomer, c->servers[n].address, record_change_cb), 0);
    assert_int_equal(wait_change(c, &add_rec), 0);
    assert_int_equal(role_of(leader, newcomer), RAFT_SPARE);

    assign.data = &assign_rec;
    assert_int_equal(raft_assign(leader, &assign, newcomer, RAFT_VOTER, record_change_cb), 0);
    assert_int_equal(wait_change(c, &assign_rec), 0);
    assert_int_equal(role_of(leader, newcomer), RAFT_VOTER);

    assert_int_equal(apply_and_wait(c, l, values[1]), 0);
    counter_expect(&expected, values, 2);
    assert_true(cluster_step_until(c, cluster_all_fsms_equal, &expected, 5000));
    assert_int_equal(leader_id_seen_by(c, n), c->servers[l].id);
    cluster_step_for(c, 1000);
    assert_int_equal(add_rec.calls, 1);
    assert_int_equal(assign_rec.calls, 1);
    cluster_free(c);
}

static void add_then_promote_1(void **state)
{
    (void)state;
    check_add_then_promote(1);
}

static void add_then_promote_3(void **state)
{
    (void)state;
    check_add_then_promote(3);
}

static void add_then_promote_5(void **state)
{
    (void)state;
    check_add_then_promote(5);
}

/* A spare receives nothing; promoting it to voter first brings its log up to date: when the
 * promotion completes, the newcomer has stored at least everything the leader had when it was
 * asked. */
static void assign_voter_catches_up_a_lagging_spare(void **state)
{
    unsigned l;
    struct cluster *c = cluster_with_newcomer(3, &l);
    struct raft *leader = cluster_raft(c, l);
    struct raft_change add, assign;
    struct cb_record add_rec = {0}, assign_rec = {0};
    uint64_t values[20];
    struct counter expected;
    raft_index target;
    unsigned i;
    (void)state;

    add.data = &add_rec;
    assert_int_equal(raft_add(leader, &add, 4, "server-4", record_change_cb), 0);
    assert_int_equal(wait_change(c, &add_rec), 0);
    for (i = 0; i < 20; i++) {
        values[i] = i * 3 + 1;
        assert_int_equal(apply_and_wait(c, l, values[i]), 0);
    }
    assert_true(memio_store_last_index(&c->servers[3].store) < raft_last_index(leader));

    target = raft_last_index(leader);
    assign.data = &assign_rec;
    assert_int_equal(raft_assign(leader, &assign, 4, RAFT_VOTER, record_change_cb), 0);
    assert_int_equal(wait_change(c, &assign_rec), 0);
    assert_true(memio_store_last_index(&c->servers[3].store) >= target);
    assert_int_equal(role_of(leader, 4), RAFT_VOTER);

    counter_expect(&expected, values, 20);
    assert_true(cluster_step_until(c, cluster_all_fsms_equal, &expected, 5000));
    cluster_free(c);
}

/* A stand-by replicates the log without voting; it can then be made a voter. */
static void assign_standby_then_voter(void **state)
{
    unsigned l;
    struct cluster *c = cluster_with_newcomer(3, &l);
    struct raft *leader = cluster_raft(c, l);
    struct raft_change req;
    struct cb_record recs[3] = {{0}};
    uint64_t value = 77;
    struct counter expected;
    (void)state;

    req.data = &recs[0];
    assert_int_equal(raft_add(leader, &req, 4, "server-4", record_change_cb), 0);
    assert_int_equal(wait_change(c, &recs[0]), 0);
    req.data = &recs[1];
    assert_int_equal(raft_assign(leader, &req, 4, RAFT_STANDBY, record_change_cb), 0);
    assert_int_equal(wait_change(c, &recs[1]), 0);
    assert_int_equal(role_of(leader, 4), RAFT_STANDBY);

    assert_int_equal(apply_and_wait(c, l, value), 0);
    counter_expect(&expected, &value, 1);
    assert_true(cluster_step_until(c, cluster_all_fsms_equal, &expected, 5000));
    assert_true(counter_equal(&c->servers[3].counter, &expected));

    req.data = &recs[2];
    assert_int_equal(raft_assign(leader, &req, 4, RAFT_VOTER, record_change_cb), 0);
    assert_int_equal(wait_change(c, &recs[2]), 0);
    assert_int_equal(role_of(leader, 4), RAFT_VOTER);
    cluster_free(c);
}

/* Removing a follower: callback 0, the configuration loses it, the rest keeps committing. */
static void check_remove_follower(unsigned n)
{
    struct cluster *c = started_cluster(n);
    unsigned l = (unsigned)cluster_leader(c);
    unsigned f = (l + 1) % n;
    struct raft *leader = cluster_raft(c, l);
    struct raft_change req;
    struct cb_record rec = {0};
    uint64_t value = 5;
    struct counter expected;

    barrier_and_wait(c, l);
    req.data = &rec;
    assert_int_equal(raft_remove(leader, &req, c->servers[f].id, record_change_cb), 0);
    assert_int_equal(wait_change(c, &rec), 0);
    assert_int_equal(role_of(leader, c->servers[f].id), -1);
    assert_int_equal(leader->configuration.n, n - 1);

    cluster_kill(c, f);
    assert_int_equal(apply_and_wait(c, l, value), 0);
    counter_expect(&expected, &value, 1);
    assert_true(cluster_step_until(c, cluster_all_fsms_equal, &expected, 5000));
    cluster_free(c);
}

static void remove_follower_3(void **state)
{
    (void)state;
    check_remove_follower(3);
}

static void remove_follower_5(void **state)
{
    (void)state;
    check_remove_follower(5);
}

/* Every refusal is synchronous, and its callback never fires. */
static void change_errors(void **state)
{
    unsigned l;
    struct cluster *c = cluster_with_newcomer(3, &l);
    struct raft *leader = cluster_raft(c, l);
    unsigned f = (l + 1) % 3;
    struct raft_change req, pending;
    struct cb_record rec = {0}, pending_rec = {0};
    raft_id other = c->servers[f].id;
    (void)state;

    req.data = &rec;
    assert_int_equal(raft_add(leader, &req, other, "elsewhere", record_change_cb),
                     RAFT_DUPLICATEID);
    assert_int_equal(raft_add(leader, &req, 9, c->servers[f].address, record_change_cb),
                     RAFT_DUPLICATEADDRESS);
    assert_int_equal(raft_remove(leader, &req, 9, record_change_cb), RAFT_BADID);
    assert_int_equal(raft_assign(leader, &req, 9, RAFT_VOTER, record_change_cb),
                     RAFT_NOTFOUND);
    assert_int_equal(raft_assign(leader, &req, other, RAFT_VOTER, record_change_cb),
                     RAFT_BADROLE);
    assert_int_equal(raft_assign(leader, &req, other, 42, record_change_cb), RAFT_BADROLE);
    assert_int_equal(raft_add(cluster_raft(c, f), &req, 4, "server-4", record_change_cb),
                     RAFT_NOTLEADER);
    assert_int_equal(raft_remove(cluster_raft(c, f), &req, other, record_change_cb),
                     RAFT_NOTLEADER);
    assert_int_equal(raft_assign(cluster_raft(c, f), &req, other, RAFT_SPARE, record_change_cb),
                     RAFT_NOTLEADER);
    /* The newcomer (not bootstrapped) is no leader either. */
    assert_int_equal(raft_add(cluster_raft(c, 3), &req, 4, "server-4", record_change_cb),
                     RAFT_NOTLEADER);

    /* One change at a time. */
    pending.data = &pending_rec;
    assert_int_equal(raft_add(leader, &pending, 4, "server-4", record_change_cb), 0);
    assert_int_equal(raft_add(leader, &req, 5, "server-5", record_change_cb), RAFT_CANTCHANGE);
    assert_int_equal(raft_remove(leader, &req, other, record_change_cb), RAFT_CANTCHANGE);
    assert_int_equal(wait_change(c, &pending_rec), 0);

    cluster_step_for(c, 1000);
    assert_int_equal(rec.calls, 0);
    assert_int_equal(pending_rec.calls, 1);
    cluster_free(c);
}

/* Before raft_start nothing leads: every change is RAFT_NOTLEADER. */
static void change_before_start_is_notleader(void **state)
{
    struct cluster *c = cluster_new(1);
    struct raft_change req;
    struct raft_transfer transfer;
    struct cb_record rec = {0};
    struct raft *r = cluster_raft(c, 0);
    (void)state;

    assert_int_equal(cluster_bootstrap(c, 1), 0);
    req.data = &rec;
    transfer.data = &rec;
    assert_int_equal(raft_add(r, &req, 2, "server-2", record_change_cb), RAFT_NOTLEADER);
    assert_int_equal(raft_remove(r, &req, 1, record_change_cb), RAFT_NOTLEADER);
    assert_int_equal(raft_assign(r, &req, 1, RAFT_SPARE, record_change_cb), RAFT_NOTLEADER);
    assert_int_equal(raft_transfer(r, &transfer, 0, record_transfer_cb), RAFT_NOTLEADER);
    assert_int_equal(rec.calls, 0);
    cluster_free(c);
}

#ifdef ON_LIBRAFT_RS
/* C-Raft dereferences these NULL pointers (the request, the address); ours: RAFT_INVALID. */
static void change_null_arguments_are_invalid(void **state)
{
    struct cluster *c = started_cluster(3);
    unsigned l = (unsigned)cluster_leader(c);
    struct raft *leader = cluster_raft(c, l);
    struct raft_change req;
    struct cb_record rec = {0};
    (void)state;

    barrier_and_wait(c, l);
    req.data = &rec;
    assert_int_equal(raft_add(leader, &req, 4, NULL, record_change_cb), RAFT_INVALID);
    assert_int_equal(raft_add(leader, NULL, 4, "server-4", record_change_cb), RAFT_INVALID);
    assert_int_equal(raft_assign(leader, NULL, 2, RAFT_SPARE, record_change_cb), RAFT_INVALID);
    assert_int_equal(raft_remove(leader, NULL, 2, record_change_cb), RAFT_INVALID);
    assert_int_equal(raft_transfer(leader, NULL, 0, record_transfer_cb), RAFT_INVALID);
    assert_int_equal(raft_add(NULL, &req, 4, "server-4", record_change_cb), RAFT_INVALID);
    cluster_step_for(c, 500);
    assert_int_equal(rec.calls, 0);
    cluster_free(c);
}
#endif

/* --- transfer --------------------------------------------------------------------------- */

/* Transfer to a given voter: the callback fires once and that voter leads. */
static void check_transfer_to(unsigned n, bool pick_any)
{
    struct cluster *c = started_cluster(n);
    unsigned l = (unsigned)cluster_leader(c);
    unsigned target = (l + n - 1) % n;
    struct raft_transfer req;
    struct cb_record rec = {0};
    raft_id id = pick_any ? 0 : c->servers[target].id;
    int now;

    barrier_and_wait(c, l);
    req.data = &rec;
    assert_int_equal(raft_transfer(cluster_raft(c, l), &req, id, record_transfer_cb), 0);
    assert_true(cluster_step_until(c, cb_fired, &rec, 10000));
    now = cluster_wait_leader(c);
    assert_true(now >= 0);
    if (pick_any) {
        assert_int_not_equal(now, (int)l);
    } else {
        assert_int_equal(now, (int)target);
    }
    assert_int_equal(leader_id_seen_by(c, l), c->servers[now].id);
    assert_int_equal(apply_and_wait(c, (unsigned)now, 3), 0);
    cluster_step_for(c, 2000);
    assert_int_equal(rec.calls, 1);
    cluster_free(c);
}

static void transfer_to_id_3(void **state)
{
    (void)state;
    check_transfer_to(3, false);
}

static void transfer_to_id_5(void **state)
{
    (void)state;
    check_transfer_to(5, false);
}

static void transfer_to_any_3(void **state)
{
    (void)state;
    check_transfer_to(3, true);
}

static void transfer_to_any_5(void **state)
{
    (void)state;
    check_transfer_to(5, true);
}

/* While a transfer is pending the leader takes no new request (RAFT_NOTLEADER). */
static void transfer_pending_refuses_requests(void **state)
{
    struct cluster *c = started_cluster(3);
    unsigned l = (unsigned)cluster_leader(c);
    unsigned target = (l + 1) % 3;
    struct raft_transfer req, second;
    struct raft_apply apply;
    struct cb_record rec = {0}, other = {0};
    (void)state;

    barrier_and_wait(c, l);
    cluster_isolate(c, target, true); /* keeps the transfer pending */
    req.data = &rec;
    second.data = &other;
    apply.data = &other;
    assert_int_equal(
        raft_transfer(cluster_raft(c, l), &req, c->servers[target].id, record_transfer_cb), 0);
    assert_int_equal(cluster_apply(c, l, &apply, 1, record_apply_cb), RAFT_NOTLEADER);
    assert_int_equal(raft_transfer(cluster_raft(c, l), &second, 0, record_transfer_cb),
                     RAFT_NOTLEADER);
    /* The target never answers: the transfer gives up, its callback fires once. */
    assert_true(cluster_step_until(c, cb_fired, &rec, 10000));
    cluster_isolate(c, target, false);
    assert_true(cluster_wait_leader(c) >= 0);
    cluster_step_for(c, 2000);
    assert_int_equal(rec.calls, 1);
    assert_int_equal(other.calls, 0);
    cluster_free(c);
}

/* Bad targets: itself, unknown IDs and non-voters are RAFT_BADID; with no other voter, 0 is
 * RAFT_NOTFOUND; callbacks never fire. */
static void transfer_bad_ids(void **state)
{
    unsigned l;
    struct cluster *c = cluster_with_newcomer(3, &l);
    struct raft *leader = cluster_raft(c, l);
    struct raft_transfer req;
    struct raft_change add;
    struct cb_record rec = {0}, add_rec = {0};
    (void)state;

    add.data = &add_rec;
    assert_int_equal(raft_add(leader, &add, 4, "server-4", record_change_cb), 0);
    assert_int_equal(wait_change(c, &add_rec), 0);

    req.data = &rec;
    assert_int_equal(raft_transfer(leader, &req, c->servers[l].id, record_transfer_cb),
                     RAFT_BADID);
    assert_int_equal(raft_transfer(leader, &req, 9, record_transfer_cb), RAFT_BADID);
    assert_int_equal(raft_transfer(leader, &req, 4, record_transfer_cb), RAFT_BADID);
    assert_int_equal(
        raft_transfer(cluster_raft(c, (l + 1) % 3), &req, c->servers[l].id, record_transfer_cb),
        RAFT_NOTLEADER);
    cluster_step_for(c, 1000);
    assert_int_equal(rec.calls, 0);
    assert_int_equal(cluster_leader(c), (int)l);
    cluster_free(c);
}

static void transfer_alone_notfound(void **state)
{
    struct cluster *c = started_cluster(1);
    struct raft_transfer req;
    struct cb_record rec = {0};
    (void)state;

    req.data = &rec;
    assert_int_equal(raft_transfer(cluster_raft(c, 0), &req, 0, record_transfer_cb),
                     RAFT_NOTFOUND);
    assert_int_equal(raft_transfer(cluster_raft(c, 0), &req, 1, record_transfer_cb), RAFT_BADID);
    cluster_step_for(c, 1000);
    assert_int_equal(rec.calls, 0);
    assert_int_equal(apply_and_wait(c, 0, 1), 0);
    cluster_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(add_then_promote_1),
        cmocka_unit_test(add_then_promote_3),
        cmocka_unit_test(add_then_promote_5),
        cmocka_unit_test(assign_voter_catches_up_a_lagging_spare),
        cmocka_unit_test(assign_standby_then_voter),
        cmocka_unit_test(remove_follower_3),
        cmocka_unit_test(remove_follower_5),
        cmocka_unit_test(change_errors),
        cmocka_unit_test(change_before_start_is_notleader),
#ifdef ON_LIBRAFT_RS
        cmocka_unit_test(change_null_arguments_are_invalid),
#endif
        cmocka_unit_test(transfer_to_id_3),
        cmocka_unit_test(transfer_to_id_5),
        cmocka_unit_test(transfer_to_any_3),
        cmocka_unit_test(transfer_to_any_5),
        cmocka_unit_test(transfer_pending_refuses_requests),
        cmocka_unit_test(transfer_bad_ids),
        cmocka_unit_test(transfer_alone_notfound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
