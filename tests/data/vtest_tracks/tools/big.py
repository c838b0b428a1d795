"""Usage: python big.py chains.json VIDEO F1,F2,... out.png  -- keyframes drawn with chain boxes and a pixel scale."""
import json, sys, cv2, numpy as np
chains = json.load(open(sys.argv[1]))
byframe = {}
for cid, pts in chains.items():
    for f, b in pts: byframe.setdefault(f, []).append((cid, b))
keys = [int(k) for k in sys.argv[3].split(",")]
cap = cv2.VideoCapture(sys.argv[2])
imgs, i = {}, 0
while i <= max(keys):
    ok, img = cap.read()
    if i in keys: imgs[i] = img
    i += 1
tiles = []
for f in keys:
    img = cv2.resize(imgs[f][80:420, 0:768], None, fx=1.3, fy=1.3)
    for x in range(50, 768, 50):
        X = int(x * 1.3); cv2.line(img, (X, 0), (X, 8), (255, 255, 255), 2); cv2.putText(img, str(x), (X - 12, 22), 0, 0.45, (255, 255, 255), 1)
    for y in range(100, 420, 50):
        Y = int((y - 80) * 1.3); cv2.line(img, (0, Y), (8, Y), (255, 255, 255), 2); cv2.putText(img, str(y), (10, Y + 5), 0, 0.45, (255, 255, 255), 1)
    for cid, b in byframe.get(f, []):
        x0, y0, x1, y1 = [int((v - o) * 1.3) for v, o in zip(b, (0, 80, 0, 80))]
        cv2.rectangle(img, (x0, y0), (x1, y1), (0, 255, 0), 1)
        cv2.putText(img, cid, (x0, y1 + 16), 0, 0.6, (0, 0, 0), 4)
        cv2.putText(img, cid, (x0, y1 + 16), 0, 0.6, (0, 255, 255), 2)
    cv2.putText(img, f"F{f}", (900, 40), 0, 1.2, (0, 0, 255), 3)
    tiles.append(img)
cv2.imwrite(sys.argv[4], np.vstack(tiles))
