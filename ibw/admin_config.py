"""
Django admin's app config with the project's site (``default_site``): staff,
and co-organizers for their own conferences (``conferences.admin_scope``).
The site is named by its dotted path, so this core module imports no app.
"""

from django.contrib.admin.apps import AdminConfig


class IBWAdminConfig(AdminConfig):
    default_site = "conferences.admin_scope.IBWAdminSite"
