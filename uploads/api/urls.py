from django.urls import path

from uploads.api import views

urlpatterns = [
    path("uploads/", views.UploadCreateView.as_view(), name="uploads"),
    path("uploads/<int:upload_id>/complete/", views.UploadCompleteView.as_view(), name="uploads-complete"),
    path("uploads/local/<str:token>/", views.LocalUploadReceiveView.as_view(), name="uploads-local-receive"),
]
