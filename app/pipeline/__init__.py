"""The pipeline runner: source -> pose -> tracking + buffer -> encoder + gallery, one worker thread per stage.

Threads and queues (app/pipeline/stages.py, track_stage.py, encode_stage.py; their values in seams.py)::

    source --frames(q=pipeline.frame_queue)--> pose --skeletons(q)--> tracking+buffer --windows(q)--> encoder
    tracking <--identities-- encoder           tracking: on_frame      encoder: on_match, on_alert

Every queue is bounded. A live source drops the OLDEST waiting frame when pose falls behind and counts it
(`FrameResult.dropped_frames`); a replay never drops: every put blocks, the tracker waits for the identities
of the windows it sent, so the same input always gives the same tracks. Each worker owns its stage object;
`stop()` goes in reverse start order (set the event, join with `pipeline.stop_timeout_s`, drain the queues).
A worker that fails or exits unasked is logged with `logger.exception` and reported to `Listener.on_error`.

Building one (the GUI and the CLI do the same)::

    from app.compose import build_pipeline
    from app.pipeline import Listener
    from app.pipeline.headless import open_input          # "demo", "synthetic", "realsense[:SERIAL]", files
    source, given = open_input("demo")                    # given: frames carry skeletons, pose never runs
    pipeline = build_pipeline(config, source, speed=1.0, skeletons_given=given,
                              gallery=True,                # match/vote/sightings/alerts in the configured DB
                              hold_at_end=True,            # GUI replay: pause at the end, seek plays again
                              listeners=(my_listener,))
    # a recorded session: s = app.session_replay.open_session(folder, images=True)
    #   build_pipeline(config, s.source, skeleton_cache=s.cache, ...)   (pose never runs on cached frames)
    # a .db3 with a truth sidecar: skeletons_given=app.compose.gives_skeletons(path)
    # several cameras, one encoder and gallery, hand-off between them (app/pipeline/multi.py):
    #   build_multi_pipeline(config, [Camera("door", source_a, given_a), Camera("hall", source_b)], gallery=True)
    #   (pause / resume / step / set_speed / seek / at_end as below, for every camera at once)

Calls for the GUI's Qt thread adapter (all thread-safe, all return at once unless noted):

    pipeline.start()                       start the workers (once per Pipeline; build a new one to restart)
    pipeline.stop() -> PipelineSummary     stop and join every worker (blocks up to ~stop_timeout_s per worker);
                                           idempotent; closes the source and any recording
    pipeline.wait(timeout_s) -> bool       True once the stream ended or a stage failed
    pipeline.pause() / resume()            the source stops / continues reading (a live camera keeps its rate)
    pipeline.step(n=1)                     pause, then let n more frames through
    pipeline.seek(t_s)                     replay only (ControlError for live); tracks restart at t_s; a file that
                                           cannot seek logs a warning and plays on
    pipeline.set_speed(x | None)           0.25x..8x real time, None = as fast as possible (ControlError outside)
    pipeline.start_recording(app.session.SessionRecorder.create(folder, source, spec))   (.db3 + JSON lines)
    pipeline.stop_recording() -> Manifest  blocks until the tracking worker has closed the files (or None)
    pipeline.paused, .finished, .at_end (hold_at_end replay paused at its end), .dropped_frames, .errors
    pipeline.source.duration_s             the timeline's length (also in every FrameResult.duration_s)

Listener methods (override what you need; called on worker threads, must return quickly; a Qt adapter should
emit signals with queued connections, and call stop() from the GUI thread, never from a callback):

    on_frame(FrameResult)      every processed frame: image, depth, TrackViews with identity decisions
    on_match(MatchEvent)       every encoded window and the track's decision after it
    on_alert(AlertEvent)       a watchlist rule fired
    on_error(stage, exc)       a worker failed (the others then wait; wait() returns True): call stop()
    on_finished(summary)       once: at the end of the stream (encoder thread) or from stop()
    QueueListener(maxsize) puts all of these into one bounded queue instead (frame results drop oldest).
"""
from app.pipeline.control import ControlError
from app.pipeline.runner import Listener, Pipeline, PipelineOptions, PipelineSummary, QueueListener

__all__ = ["ControlError", "Listener", "Pipeline", "PipelineOptions", "PipelineSummary", "QueueListener"]
