"""The live protocol's tests again, under the production worker: gunicorn's gevent worker.

``tests/test_live.py`` (and test_explain, test_trust, test_writers) run the app on
werkzeug's threaded server in the test process, so their tests can also look inside
the app.  The ones that only speak the protocol (and the HTTP API) are
imported here (those that look inside stay there), where ``live_server`` and
``make_live_server`` start the README's gunicorn instead (one gevent worker, a fresh
instance folder, the same settings as INKLING_* variables): every socket a greenlet,
every primitive from ``webapp/blocking.py`` in its gevent form, the teacher and the
follower native threads beside the event loop, as deployed.
"""

from __future__ import annotations

import pytest
from support.servers import Gunicorn

# Collected here, with this module's servers:
from test_explain import (  # noqa: F401
    test_a_bad_inside_message_is_refused,
    test_explain_answers_a_predictions_fields_and_the_inside,
    test_explain_counts_against_the_prediction_rate_limit,
    test_explain_of_an_empty_drawing_is_null,
    test_explain_refuses_bad_bodies_as_predict_does,
    test_explain_takes_an_image_and_a_writer,
    test_several_digits_side_by_side_are_said_to_be_several,
    test_teaching_trains_the_main_network_never_the_classic_one,
    test_the_classic_network_is_fifteen_weight_pictures,
    test_the_saliency_says_which_pixels_the_answer_rests_on,
)
from test_live import (  # noqa: F401
    test_a_burst_is_folded_and_its_last_message_answered_with_its_own_seq,
    test_a_foreign_origin_is_refused,
    test_a_message_over_the_size_limit_closes_with_1009,
    test_a_teach_reaches_every_other_connection,
    test_a_wrong_handshake_token_still_connects_but_cannot_teach,
    test_allowed_origins_come_from_the_config,
    test_binary_frame_is_a_bad_message,
    test_every_error_is_answered_and_the_connection_stays_open,
    test_growing_a_drawing_past_its_limits_is_too_large,
    test_hello_carries_the_model_info,
    test_messages_without_seq_are_answered_with_null_seq,
    test_rate_limits_off_lets_bulk_teaching_through,
    test_same_origin_and_no_origin_are_served,
    test_stroke_end_undo_clear_and_ink_change_the_ink,
    test_stroke_is_answered_with_a_prediction,
    test_teach_without_ink_is_no_ink,
    test_teacher_gets_no_model_message_for_its_own_teach,
    test_teaches_in_a_burst_are_all_answered_in_order,
    test_teaches_per_address_are_rate_limited,
    test_teaches_per_connection_are_rate_limited,
    test_the_token_can_be_given_at_the_handshake,
    test_with_a_token_set_predicting_stays_open_and_teaching_needs_it,
    token_server,
)
from test_trust import (  # noqa: F401
    test_a_request_through_a_proxy_is_public,
    test_a_teach_token_holder_teaches_everyone_directly_on_a_public_server,
    test_public_mode_keeps_a_correction_waiting,
    test_without_a_writer_the_owners_correction_is_learned_too,
)
from test_writers import (  # noqa: F401
    test_a_writers_teach_adapts_their_predictions_and_nobody_elses,
    test_bad_writer_ids_are_bad_messages,
    test_forget_needs_a_writer,
)

from webapp.settings import SETTINGS

pytestmark = [pytest.mark.gunicorn]

ENV_OF = {setting.key: setting.env for setting in SETTINGS}


def as_env(config: dict) -> dict:
    """The app settings of a test (config keys) as the INKLING_* variables gunicorn reads."""
    env = {}
    for key, value in config.items():
        if key not in ENV_OF:
            raise KeyError(f"{key} has no INKLING_* variable; this test cannot run here")
        if isinstance(value, bool):
            value = "on" if value else "off"
        elif isinstance(value, (list, tuple)):
            value = ",".join(value)
        env[ENV_OF[key]] = str(value)
    return env


@pytest.fixture
def make_live_server(make_gunicorn, tmp_path):
    """``make_live_server(**config)`` -> a ready gunicorn with one gevent worker."""
    count = [0]

    def factory(**config):
        count[0] += 1
        return make_gunicorn(tmp_path / f"instance{count[0]}", workers=1, **as_env(config))

    return factory


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    """One gunicorn with the default settings for the tests that change nothing in it
    (they predict, and are refused): starting one per test would cost minutes."""
    folder = tmp_path_factory.mktemp("gevent")
    server = Gunicorn(folder / "instance", workers=1, log_path=folder / "gunicorn.log")
    try:
        yield server.wait_ready()
    finally:
        server.stop()
