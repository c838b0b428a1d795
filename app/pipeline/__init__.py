"""The pipeline runner: source -> pose -> tracking + buffer -> encoder + gallery, one worker thread per stage.

(The full API the GUI uses is documented here once it is final.)
"""
