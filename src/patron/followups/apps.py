from django.apps import AppConfig


class FollowupsConfig(AppConfig):
    name = "patron.followups"
    label = "followups"
    verbose_name = "Post-purchase follow-ups"
