"""Turn by-eye keyframe identities (keylabels.txt) into per-frame MOT ground truth for vtest.avi frames FIRST..LAST.

Usage: build_gt.py chains.json keylabels.txt FIRST-LAST out.txt [ID_OFFSET]

Per person and frame between two keyframes a and b: the pose box of the chain assigned to that person at the
nearer keyframe (else the farther one) is used if it agrees with the straight-line interpolation of the
person's two keyframe boxes (IoU >= 0.3; this rejects a chain that jumped to someone else in between); else the
interpolated box. A person labelled at only one of a, b is labelled from that keyframe's chain, within
5 frames of it, and only while the chain has a box. A box drawn by eye, m(x0,y0,x1,y1), is replaced by a pose
box of the frame overlapping it by IoU >= 0.5 when there is one.

Where that leaves a person an interpolated box, the box drifts from a walker who turns or changes pace (frame by
frame, 195 of the boxes a track put on the right person overlapped such a box by IoU < 0.5). So the frame's
pose boxes that no labelled person holds are matched one to one to the interpolated people (Hungarian on IoU),
and a person takes the pose box matched to them when: IoU >= 0.2 with the interpolation, height within 0.67-1.5
times, no other labelled person's box covers half of it, its chain is not given to someone else at a keyframe,
and the person is not drawn by eye at both keyframes (pose saw them at neither: hidden, so left interpolated).
"""
import json, re, sys

from scipy.optimize import linear_sum_assignment

SNAP_IOU, SNAP_HEIGHT, RIVAL_COVER = 0.2, (0.67, 1.5), 0.5
chains = {k: {f: b for f, b in v} for k, v in json.load(open(sys.argv[1])).items()}
text = open(sys.argv[2]).read()
first, last = (int(v) for v in sys.argv[3].split("-"))  # the labelled frames, 0-based, inclusive
id_offset = int(sys.argv[5]) if len(sys.argv) > 5 else 0  # keeps two labelled segments' identities apart
keys = {}
for line in text.splitlines():
    if not line.strip() or line.startswith("#"): continue
    f, rest = line.split(":", 1)
    keys[int(f)] = {}
    for tok in rest.split():
        name, person = tok.rsplit("=", 1)
        keys[int(f)][person] = name
frames = sorted(keys)
def iou(a, b):
    w = min(a[2], b[2]) - max(a[0], b[0]); h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0: return 0.0
    i = w * h
    return i / ((a[2]-a[0])*(a[3]-a[1]) + (b[2]-b[0])*(b[3]-b[1]) - i)
def cover(a, b):
    """Share of box b inside box a."""
    w = min(a[2], b[2]) - max(a[0], b[0]); h = min(a[3], b[3]) - max(a[1], b[1])
    return 0.0 if w <= 0 or h <= 0 else w * h / ((b[2] - b[0]) * (b[3] - b[1]))
pose_at = {}
for cid, fb in chains.items():
    for f, b in fb.items(): pose_at.setdefault(f, []).append(b)
chain_at = {(f, tuple(b)): cid for cid, fb in chains.items() for f, b in fb.items()}
owner = {}  # chain -> the people keyframes give it to
for k in keys.values():
    for person, name in k.items(): owner.setdefault(name, set()).add(person)
def box_of(name, f):
    m = re.fullmatch(r"m\((\d+),(\d+),(\d+),(\d+)\)", name)
    if m:
        drawn = [float(v) for v in m.groups()]
        best = max(pose_at.get(f, []), key=lambda b: iou(b, drawn), default=None)
        return best if best is not None and iou(best, drawn) >= 0.5 else drawn
    return chains[name].get(f)
def chain_box(name, f):
    return None if name.startswith("m(") else chains[name].get(f)
people = sorted({p for k in keys.values() for p in k})
pid = {p: id_offset + i + 1 for i, p in enumerate(people)}
def snap(g, found, a, b):
    """Give drifting interpolated people the pose box they stand in (see the module docstring)."""
    held = [v for v, interpolated in found.values() if not interpolated]
    free = [v for v in pose_at.get(g, []) if v not in held]
    drift = [p for p, (_, interpolated) in found.items() if interpolated
             and not (keys[a][p].startswith("m(") and keys[b][p].startswith("m("))]
    if not drift or not free:
        return 0
    cost = [[1.0 - iou(found[p][0], v) for v in free] for p in drift]
    taken = 0
    for r, c in zip(*linear_sum_assignment(cost)):
        person, interp, pose = drift[r], found[drift[r]][0], free[c]
        height = (pose[3] - pose[1]) / (interp[3] - interp[1])
        rival = max((cover(v, pose) for q, (v, _) in found.items() if q != person), default=0.0)
        others = owner.get(chain_at[(g, tuple(pose))], set()) - {person}
        if (1.0 - cost[r][c] >= SNAP_IOU and SNAP_HEIGHT[0] <= height <= SNAP_HEIGHT[1] and rival < RIVAL_COVER
                and not others):
            found[person] = (pose, False)
            taken += 1
    return taken
rows, snapped = [], 0
for g in range(first, last + 1):
    found = {}  # person -> (box, interpolated)
    a = max(f for f in frames if f <= g)
    b = min((f for f in frames if f >= g), default=a)
    for p in people:
        na, nb = keys[a].get(p), keys[b].get(p)
        ka = box_of(na, a) if na else None
        kb = box_of(nb, b) if nb else None
        box = None
        if ka is not None and kb is not None:
            w = 0.0 if b == a else (g - a) / (b - a)
            interp = [x + w * (y - x) for x, y in zip(ka, kb)]
            order = [na, nb] if g - a <= b - g else [nb, na]
            for n in order:
                c = chain_box(n, g)
                if c is not None and iou(c, interp) >= 0.3:
                    box = c; break
            found[p] = (box, False) if box else (interp, True)
            continue
        elif ka is not None and g - a <= 5:
            box = chain_box(na, g) or (ka if g == a else None)
        elif kb is not None and b - g <= 5:
            box = chain_box(nb, g) or (kb if g == b else None)
        if box is not None:
            found[p] = (box, False)
    snapped += snap(g, found, a, b)
    for p, (box, _) in sorted(found.items()):
        x0, y0, x1, y1 = box
        rows.append(f"{g + 1},{pid[p]},{x0:.1f},{y0:.1f},{x1 - x0:.1f},{y1 - y0:.1f},1,-1,-1,-1")
open(sys.argv[4], "w").write("\n".join(rows) + "\n")
print(len(rows), "boxes,", snapped, "interpolated boxes replaced by pose's,", len(people), "people:", " ".join(f"{p}={pid[p]}" for p in people))
