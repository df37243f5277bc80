"""Features and the service level against a plain model: a hypothesis state machine that
opens and closes breakers and forces features off and on."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from flask_guard import FlaskGuard, ServiceLevel
from flask_guard.signals import feature_changed, service_level_changed

from ..conftest import make_app

BREAKERS = ["payments", "recs-api", "search-api"]
FEATURES = {
    "checkout": (["payments"], True),
    "recommendations": (["recs-api"], False),
    "discovery": (["recs-api", "search-api"], False),
}


class FeaturesModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.guard = FlaskGuard(make_app())
        for name, (depends_on, essential) in FEATURES.items():
            self.guard.feature(name, depends_on=depends_on, essential=essential)
        self.open: set[str] = set()
        self.forced: set[str] = set()
        self.changes = 0
        self.level_changes = 0
        feature_changed.connect(self._on_feature, weak=False)
        service_level_changed.connect(self._on_level, weak=False)
        self.guard.features.refresh()
        self.changes = self.level_changes = 0

    def _on_feature(self, sender: object, **kwargs: object) -> None:
        if sender is self.guard.features:
            self.changes += 1

    def _on_level(self, sender: object, **kwargs: object) -> None:
        if sender is self.guard.features:
            self.level_changes += 1

    def teardown(self) -> None:
        feature_changed.disconnect(self._on_feature)
        service_level_changed.disconnect(self._on_level)

    def _expected(self) -> dict[str, bool]:
        return {
            name: name not in self.forced and not (set(depends_on) & self.open)
            for name, (depends_on, _) in FEATURES.items()
        }

    def _expected_level(self) -> ServiceLevel:
        off = {name for name, on in self._expected().items() if not on}
        if not off:
            return ServiceLevel.FULL
        return ServiceLevel.MINIMAL if "checkout" in off else ServiceLevel.DEGRADED

    @rule(breaker=st.sampled_from(BREAKERS), opened=st.booleans())
    def switch_breaker(self, breaker: str, opened: bool) -> None:
        before, level = self._expected(), self._expected_level()
        changes, level_changes = self.changes, self.level_changes
        if opened:
            self.guard.breakers[breaker].force_open()
            self.open.add(breaker)
        else:
            self.guard.breakers[breaker].force_close()
            self.open.discard(breaker)
        after = self._expected()
        flipped = sum(before[name] != after[name] for name in FEATURES)
        assert self.changes - changes == flipped
        assert self.level_changes - level_changes == int(level is not self._expected_level())

    @rule(feature=st.sampled_from(list(FEATURES)), off=st.booleans())
    def force(self, feature: str, off: bool) -> None:
        self.guard.features.force(feature, off)
        if off:
            self.forced.add(feature)
        else:
            self.forced.discard(feature)

    @invariant()
    def every_feature_reads_as_the_model_says(self) -> None:
        for name, on in self._expected().items():
            assert self.guard.feature_enabled(name) is on

    @invariant()
    def the_level_is_the_model_s(self) -> None:
        assert self.guard.service_level is self._expected_level()


def test_features_and_the_level_follow_breakers_and_operators_as_the_model_says() -> None:
    run_state_machine_as_test(FeaturesModel, settings=settings(max_examples=50, deadline=None))
