"""Pre-restructuring code (3663ab9, before issue 15): a tiny random bundle, a two-take session saved as .swm (version 3), and
the chunk a resumed session must produce next. Kept as the recipe of this folder; run it with that commit on sys.path."""
import sys, numpy as np, torch
sys.path.insert(0, "/tmp/oldtree")
from engine.bundle import ModelBundle, save_bundle
from engine.session import WorldSession
from app.project import Project, StartSettings
from app.session_file import save_project
out = sys.argv[1]
torch.set_num_threads(1)
b = ModelBundle.random("sana-wm-tiny-test", frame_size=(96, 64), spatial_factor=16, seed=7)
b.context_frames = 7  # re-anchoring on, so the anchor/recent_latents of version 3 are exercised
save_bundle(b, out + "/bundle")
s = WorldSession(b)
rng = np.random.default_rng(0)
img = rng.integers(0, 255, (64, 96, 3), dtype=np.uint8)
s.start(img)
p = Project(StartSettings(image=img, seed=42))
def fwd(k, turn=0.0):
    out = []
    for i in range(24):
        m = np.eye(4); m[2, 3] = 0.05 * (24 * k + i + 1); a = turn * (i + 1)
        m[:3, :3] = [[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]]
        out.append(m)
    return np.array(out)
for k in range(3):
    p.add_chunk(s.step(fwd(k)))
s.rewind(1); p.rewind(1)
p.add_chunk(s.step(fwd(2, 0.01)))
p.stream_settings = s.settings
save_project(p, out + "/session.swm", preview_format="png")
nxt = s.step(fwd(3))
np.save(out + "/next_frames.npy", nxt.frames)
np.save(out + "/next_latents.npy", nxt.latents.numpy())
print("ok", len(p.branches), p.cursor)
