"""Usage: PYTHONPATH=. python tests/data/vtest_tracks/tools/propose.py VIDEO [N]  (writes chains.json)

Propose identity chains for vtest.avi frames 0..N-1 from the cached pose boxes, by a greedy IoU linker
that is NOT skelwatch's tracker (no Kalman, no Hungarian, no skeleton features): each box joins the chain whose
last box (seen within 5 frames) overlaps it most (IoU >= 0.3), in order of decreasing IoU."""
import json, sys
import cv2
from tests.capture.vtest_data import load  # run from the repository root with PYTHONPATH=.

VIDEO = sys.argv[1]  # ../shared/data/opencv-vtest/vtest.avi
N = int(sys.argv[2]) if len(sys.argv) > 2 else 795
d = load()[:N]
cap = cv2.VideoCapture(VIDEO)
def hist(img, b):
    x0, y0, x1, y1 = [int(round(v)) for v in b]
    crop = img[max(y0, 0):max(y1, y0 + 1), max(x0, 0):max(x1, x0 + 1)]
    h = cv2.calcHist([cv2.cvtColor(crop, cv2.COLOR_BGR2HSV)], [0, 1], None, [8, 4], [0, 180, 0, 256])
    return cv2.normalize(h, h).flatten()
def iou(a, b):
    w = min(a[2], b[2]) - max(a[0], b[0]); h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0: return 0.0
    i = w * h
    return i / ((a[2]-a[0])*(a[3]-a[1]) + (b[2]-b[0])*(b[3]-b[1]) - i)
chains = {}  # id -> list of (frame, box)
nid = 1
hists = {}
for f, _, sk in d:
    img = cap.read()[1]
    boxes = [s.box for s in sk if s.box]
    hs = [hist(img, b) for b in boxes]
    live = [(cid, c[-1]) for cid, c in chains.items() if f - c[-1][0] <= 5]
    # colour: a box only continues a chain whose clothes look alike (Bhattacharyya distance < 0.5)
    pairs = sorted(((iou(b, last[1]), bi, cid) for bi, b in enumerate(boxes) for cid, last in live
                    if cv2.compareHist(hs[bi], hists[cid], cv2.HISTCMP_BHATTACHARYYA) < 0.5), reverse=True)
    used_b, used_c = set(), set()
    for v, bi, cid in pairs:
        if v < 0.3: break
        if bi in used_b or cid in used_c: continue
        used_b.add(bi); used_c.add(cid); chains[cid].append((f, list(boxes[bi])))
        hists[cid] = 0.8 * hists[cid] + 0.2 * hs[bi]
    for bi, b in enumerate(boxes):
        if bi not in used_b:
            chains[nid] = [(f, list(b))]; hists[nid] = hs[bi]; nid += 1
json.dump({str(k): v for k, v in chains.items()}, open("chains.json", "w"))
lens = sorted(((len(v), k) for k, v in chains.items()), reverse=True)
print(len(chains), "chains;", sum(1 for l, _ in lens if l >= 10), ">= 10 frames")
print([(k, l, chains[k][0][0], chains[k][-1][0]) for l, k in lens if l >= 5])
