from django.urls import path

from shop.pact_states import views

urlpatterns = [
    path("provider-states", views.provider_states, name="pact-provider-states"),
]
