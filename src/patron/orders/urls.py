from django.urls import path

from patron.orders import views

app_name = "orders"
urlpatterns = [
    path("", views.order_list, name="list"),
    path("<str:number>/", views.order_detail, name="detail"),
    path("<str:number>/timeline/", views.order_timeline, name="timeline"),
    path("<str:number>/cancel/", views.order_cancel, name="cancel"),
]
