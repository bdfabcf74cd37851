from django.apps import AppConfig


class TrainingConfig(AppConfig):
    """Training and mentoring: role-play against simulated shoppers, scoring, scripts, exams,
    seniors coaching new agents (docs/training.md)."""

    name = "xiaoer.training"
    label = "training"
    verbose_name = "培训"

    def ready(self) -> None:
        pass
