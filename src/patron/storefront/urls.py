from django.urls import path

from patron.orders import views as order_views
from patron.storefront import checkout_views, views

app_name = "storefront"
urlpatterns = [
    path("", views.home, name="home"),
    path("c/<slug:slug>/", views.category, name="category"),
    path("search/", views.search, name="search"),
    path("search/suggest/", views.suggestions, name="suggest"),
    path("p/<slug:slug>/", views.product, name="product"),
    path("checkout/", checkout_views.checkout, name="checkout"),
    path("checkout/totals/", checkout_views.checkout_totals, name="checkout_totals"),
    path("checkout/pay/<str:number>/", checkout_views.checkout_pay, name="checkout_pay"),
    path("orders/<str:number>/", order_views.guest_order, name="order_page"),
    path("orders/<str:number>/timeline/", order_views.guest_order_timeline, name="order_timeline"),
    path("orders/<str:number>/confirmation/", order_views.guest_confirmation, name="order_confirmation"),
]
