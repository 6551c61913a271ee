"""A flood of bad logins is rate-limited, queues for the small hash pool, and leaves secret reads answered and the
server's memory bounded (issue 10 B2). A real `keyturn serve` runs with the production hash cost (64 MiB a check).

Speed targets live in bench/login_flood.py (read p99 against a no-flood baseline); this test checks behaviour only.
"""

from __future__ import annotations

from collections import Counter

from bench.login_flood import MIB, start_server, timed_phase

HASH_MEMORY = 64 * MIB  # argon2id's default memory cost


def test_bad_login_flood_is_rate_limited_and_reads_stay_answered(tmp_path):
    server = start_server(f"sqlite:///{tmp_path}/keyturn.db", login_hash_workers="2", rate_limit_login_ip_burst="10")
    try:
        timed_phase(server, readers=2, seconds=0.5)
        rss_before, _ = server.rss()
        phase, answers = timed_phase(server, readers=2, logins=100)
        _, peak = server.rss()
    finally:
        server.stop()

    statuses = Counter(status for status, _ in answers)
    assert statuses[401] >= 10 and statuses[429] >= 80 and statuses[401] + statuses[429] == 100, statuses
    assert all(int(after) >= 1 for status, after in answers if status == 429)  # Retry-After, whole seconds
    assert phase.flood_began is not None and phase.flood_ended is not None
    for kind, reads in phase.reads.items():
        assert set(reads.statuses) == {200}, kind
        # Reads kept being answered while the flood's hash checks were queued, not only after them.
        assert any(phase.flood_began < finished < phase.flood_ended for finished in reads.finished), kind
    # Two hash threads hold at most two checks' memory at once, whatever the flood.
    assert peak - rss_before < 4 * HASH_MEMORY, f"RSS grew {(peak - rss_before) / MIB:.0f} MiB"
