"""The checker on known-good and known-bad histories (python3 -m unittest)."""

import random
import unittest

from checker import INFINITY, Op, check, check_register


def put(value, invoke, complete=INFINITY, key="k"):
    return Op(key, "put", value, invoke, complete)


def get(value, invoke, complete, key="k"):
    return Op(key, "get", value, invoke, complete)


class Registers(unittest.TestCase):
    def test_sequential_history_is_linearizable(self):
        h = [put("1", 0, 1), get("1", 2, 3), put("2", 4, 5), get("2", 6, 7)]
        self.assertTrue(check_register(h))

    def test_read_of_the_initial_absence(self):
        self.assertTrue(check_register([get(None, 0, 1), put("1", 2, 3)]))
        self.assertFalse(check_register([put("1", 0, 1), get(None, 2, 3)]))

    def test_stale_read_after_an_acknowledged_write_is_not(self):
        # The bug of issue 16: a GET invoked after the PUT of 2 was acknowledged returns 1.
        h = [put("1", 0, 1), put("2", 2, 3), get("1", 4, 5)]
        self.assertFalse(check_register(h))

    def test_a_read_concurrent_with_a_write_may_see_either_value(self):
        for seen in ("1", "2"):
            h = [put("1", 0, 1), put("2", 2, 6), get(seen, 3, 5)]
            self.assertTrue(check_register(h), seen)

    def test_reads_may_not_go_back_in_time(self):
        # Both reads overlap the write of 2, but the second starts after the first ended.
        h = [put("1", 0, 1), put("2", 2, 10), get("2", 3, 4), get("1", 5, 6)]
        self.assertFalse(check_register(h))

    def test_a_value_never_written_cannot_be_read(self):
        self.assertFalse(check_register([put("1", 0, 1), get("7", 2, 3)]))

    def test_an_unknown_write_may_appear_later(self):
        h = [put("1", 0, 1), put("2", 2), get("1", 5, 6), get("2", 7, 8)]
        self.assertTrue(check_register(h))

    def test_an_unknown_write_may_never_appear(self):
        h = [put("1", 0, 1), put("2", 2), get("1", 5, 6), get("1", 9, 10)]
        self.assertTrue(check_register(h))

    def test_an_unknown_write_cannot_appear_then_vanish(self):
        h = [put("1", 0, 1), put("2", 2), get("2", 5, 6), get("1", 7, 8)]
        self.assertFalse(check_register(h))

    def test_an_unknown_write_takes_effect_only_after_its_invocation(self):
        h = [put("1", 0, 1), get("2", 2, 3), put("2", 4)]
        self.assertFalse(check_register(h))

    def test_many_unknown_writes_do_not_blow_up_a_bad_history(self):
        h = [put(f"u{n}", n * 0.1) for n in range(40)]
        h += [put("1", 0, 1), put("2", 2, 3), get("1", 4, 5)]
        self.assertFalse(check_register(h, budget=100_000))

    def test_equal_times_do_not_overlap(self):
        # The put completed at 1 and the get was invoked at 1: the get must see it.
        self.assertFalse(check_register([put("1", 0, 1), get(None, 1, 2)]))


class Histories(unittest.TestCase):
    def test_keys_are_checked_separately_and_the_bad_one_is_named(self):
        h = [put("1", 0, 1, key="a"), put("1", 0, 1, key="b"), get("1", 2, 3, key="a"),
             get(None, 2, 3, key="b")]
        verdict = check(h)
        self.assertFalse(verdict.ok)
        self.assertEqual(verdict.key, "b")
        self.assertEqual(verdict.ops, 4)

    def test_a_random_register_run_is_linearizable_and_a_stale_copy_of_it_is_not(self):
        """Clients on a real register with random overlaps; then one read moved after a later
        write's completion while keeping its old value."""
        rng = random.Random(7)
        for _ in range(30):
            ops, value, t = [], None, 0.0
            for n in range(60):
                start = t + rng.random()
                point = start + rng.random()  # when it takes effect
                end = point + rng.random()
                if rng.random() < 0.5:
                    value = f"v{n}"
                    ops.append(put(value, start, end))
                else:
                    ops.append(get(value, start, end))
                t = point
            self.assertTrue(check_register(ops))
            writes = [o for o in ops if o.kind == "put"]
            first, last = writes[0], writes[-1]
            if first.value != last.value:
                stale = get(first.value, last.complete + 1, last.complete + 2)
                self.assertFalse(check_register(ops + [stale]))


if __name__ == "__main__":
    unittest.main()
