"""The simulator's business time: never ahead of the wall clock, slices that shorten once caught
up, and collected demands named as followup's casework names them."""

from datetime import UTC, datetime, timedelta

from hotline.contracts import BUSINESS_TZ
from hotline.contracts.followup import CollectedDemand
from hotline.followup.casework.domain import demand_source_id as casework_source_id
from hotline.simulator.adapter import Clock, demand_source_id, slices
from hotline.simulator.plan import Act, ActKind

WALL = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


class FakeTime:
    def __init__(self) -> None:
        self.seconds = 0.0

    def wall(self) -> datetime:
        return WALL + timedelta(seconds=self.seconds)

    def monotonic(self) -> float:
        return self.seconds


def test_business_time_runs_at_speed_until_it_meets_the_wall_clock_then_at_real_time():
    fake = FakeTime()
    clock = Clock(WALL - timedelta(days=10), 86400, now=fake.wall, monotonic=fake.monotonic)
    assert clock.business() == WALL - timedelta(days=10)
    fake.seconds = 3  # three business days later
    assert clock.business() == WALL - timedelta(days=7) + timedelta(seconds=0)
    assert clock.wait_s(WALL - timedelta(days=6)) == 1
    fake.seconds = 100  # long caught up: the wall clock, never beyond it
    assert clock.business() == fake.wall()
    assert clock.wait_s(fake.wall() + timedelta(seconds=30)) == 30


def test_full_speed_waits_only_for_the_wall_clock():
    fake = FakeTime()
    clock = Clock(WALL - timedelta(days=100), None, now=fake.wall, monotonic=fake.monotonic)
    assert clock.wait_s(WALL - timedelta(days=1)) == 0
    assert clock.wait_s(WALL + timedelta(minutes=2)) == 120


def act(at: datetime, n: int) -> Act:
    return Act(at, (n,), ActKind.RECEIVE, f"t{n}", f"t{n}", None, {})


def test_slices_hold_every_act_once_in_order_and_shorten_near_the_wall_clock():
    fake = FakeTime()
    clock = Clock(WALL - timedelta(days=2), None, now=fake.wall, monotonic=fake.monotonic)
    start = WALL - timedelta(days=2)
    acts = [act(start + timedelta(minutes=37 * (n + 1)), n) for n in range(70)]
    out = list(slices(acts, clock, first=start, until=WALL, catch_up_step=timedelta(hours=6)))
    ends = [end for end, _ in out]
    assert ends == sorted(ends) and ends[-1] == WALL
    assert [a for _, batch in out for a in batch] == acts
    for (end, batch), previous in zip(out, [start] + ends):
        assert all(previous < a.at <= end for a in batch)
    steps = [b - a for a, b in zip([start] + ends, ends)]
    assert steps[0] == timedelta(hours=6) and steps[-1] == timedelta(minutes=1)
    assert max(ends) <= WALL


def test_slices_go_on_for_ever_without_an_end():
    fake = FakeTime()
    clock = Clock(WALL, None, now=fake.wall, monotonic=fake.monotonic)

    def endless():
        n = 0
        while True:
            yield act(WALL + timedelta(minutes=n, seconds=30), n)
            n += 1

    planned = slices(endless(), clock, first=WALL, until=None)
    first = [next(planned) for _ in range(5)]
    assert [end for end, _ in first] == [WALL + timedelta(minutes=m) for m in range(1, 6)]
    assert all(len(batch) == 1 for _, batch in first)


def test_a_collected_demand_has_the_source_id_casework_gives_it():
    payload = {"description": "居民希望 在阳光小区增设停车位。", "place": "阳光小区", "community": "阳光小区"}
    demand = CollectedDemand(description=payload["description"], place=payload["place"],
                             community=payload["community"])
    assert demand_source_id("TK1", "c-1", payload) == casework_source_id("TK1", "c-1", demand)
    assert datetime.now(BUSINESS_TZ).tzinfo is BUSINESS_TZ
