"""Kimai's error bodies (kimai-api.md §3), read into a message and per-field messages."""

from __future__ import annotations

from apps.connectors.kimai.client import kimai_error_details


def test_it_reads_a_form_error_with_root_and_field_messages() -> None:
    details = kimai_error_details(
        {
            "code": 400,
            "message": "Validation Failed",
            "errors": {
                "errors": ["The end date must not be earlier than the start date."],
                "children": {
                    "begin": {},
                    "activity": {"errors": ["The selected choice is invalid."]},
                    "tags": {},
                },
            },
        }
    )

    assert details.field_errors == {
        "__root__": ["The end date must not be earlier than the start date."],
        "activity": ["The selected choice is invalid."],
    }
    assert details.message == (
        "Validation Failed: The end date must not be earlier than the start date.; "
        "activity: The selected choice is invalid."
    )


def test_it_reads_the_service_layers_validation_shape() -> None:
    details = kimai_error_details(
        {
            "code": "400",
            "message": "There was a problem saving.",
            "errors": {"children": {"duration": {"errors": ["Maximum 12:30 hours allowed."]}}},
        }
    )

    assert details.field_errors == {"duration": ["Maximum 12:30 hours allowed."]}


def test_it_reads_a_plain_status_body() -> None:
    details = kimai_error_details({"code": 404, "message": "Not Found"})

    assert (details.message, details.field_errors) == ("Not Found", {})


def test_it_reads_nothing_from_an_empty_body() -> None:
    details = kimai_error_details(None)

    assert (details.message, details.field_errors) == (None, {})
