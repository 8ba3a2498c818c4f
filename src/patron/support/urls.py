from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from patron.support import views

app_name = "support"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.support_page, name="page"),
    path("tickets/", views.open_ticket, name="open_ticket"),
    path("conversations/<int:conversation_id>/", views.conversation_page, name="conversation"),
    path("articles/<slug:slug>/", views.article, name="article"),
    path("chat/", views.chat_panel, name="chat_panel"),
    path("chat/thread/", views.chat_thread, name="chat_thread"),
    path("chat/send/", views.chat_send, name="chat_send"),
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/<int:conversation_id>/", views.inbox_conversation, name="inbox_conversation"),
    path("inbox/<int:conversation_id>/thread/", views.inbox_thread, name="inbox_thread"),
    path("inbox/<int:conversation_id>/<slug:action>/", views.inbox_action, name="inbox_action"),
]
