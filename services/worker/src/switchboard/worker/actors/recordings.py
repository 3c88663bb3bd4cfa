"""Recording jobs: transcription after ``recording.ready``, and the 7-day retention."""

from __future__ import annotations

from switchboard.common.bootstrap import adapters
from switchboard.common.jobs.actor import job_actor
from switchboard.common.jobs.catalog import CLEANUP_OLD_RECORDINGS, PROCESS_RECORDING
from switchboard.domain.calls import recordings


@job_actor(PROCESS_RECORDING)
def process_recording_job(
    *,
    business_id: int,
    recording_sid: str,
    call_sid: str,
    recording_url: str | None = None,
    duration_s: float | None = None,
) -> None:
    """Download from Twilio, store, transcribe, attach to the call log and its lead. Each step
    is committed on the recording's row: a worker dying mid-way costs only the step under way;
    the redelivery skips the finished ones."""
    recordings.process_recording(
        business_id,
        adapters(),
        recording_sid=recording_sid,
        call_sid=call_sid,
        recording_url=recording_url,
        duration_s=duration_s,
    )


@job_actor(CLEANUP_OLD_RECORDINGS)
def cleanup_old_recordings_job(*, business_id: int) -> None:
    """Delete the business's recordings older than 7 days (ours and Twilio's copy)."""
    recordings.cleanup_old_recordings(business_id, adapters())
