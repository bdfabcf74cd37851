from django.apps import AppConfig


class DraftingConfig(AppConfig):
    """Drafts written by a shop's language model, grounded in the shop's own facts and checked by
    guardrails before an agent (or, where the shop allows, the robot) sends them. Below the robot
    and crm in the layers: it reads their public functions, none of them imports it
    (docs/decisions/170)."""

    name = "xiaoer.drafting"
    label = "drafting"
    verbose_name = "AI 草稿"

    def ready(self) -> None:
        from xiaoer.assistant import services as robot
        from xiaoer.drafting import services

        # Where the shop allows it, the robot's lone answers are drafts that passed the guardrails.
        robot.register_answer_writer(services.auto_answer)
