"""Synthetic ADL datasets: an animated 3D person rendered in RGB, with skeletons.

:func:`generate` writes CAD-60, CAD-120, MSRDailyActivity3D or CSV-manifest
datasets in their exact native layouts (through the writers of
:mod:`data.cad` and :mod:`data.msr_daily`), so that every reader, feature
and protocol of adl runs on them.  It is the demo's default data and the
fixture of the tests.

How a video is made
-------------------
1. **Subject** (seeded by ``(seed, dataset, subject)``): body scale 0.92-1.08
   (about 1.63-1.91 m), limb and shoulder proportions, clothing/skin/hair
   colours, a room (textured wall tiles, floor planks, wall decorations) and a
   spot in it seen by the dataset's camera, a pace (``speed`` 1.0-1.3 and a
   time-warp), and handedness: subject ``k`` (0-based) is left-handed when
   ``k % 4 == 1`` -- the whole scene is mirrored, so the *active* hand is the
   left one.
2. **Motion script** of the class (:mod:`data.synth._classes`): keyframed
   pose parameters (torso bend/lean/twist, sitting, crouching, head nod,
   hand targets on the body or in the scene) interpolated by PCHIP, plus
   oscillations whose period is in frames (fast small motions stay fast and
   small at any video length), plus objects that sit in the scene or follow a
   hand.  Per video: small constant jitter of the hand targets (0.6 cm), torso
   bend, position and yaw, and of the pace.
3. **Kinematics** (:mod:`data.synth._body`): a 21-point skeleton in metres
   (20 Kinect v1 joints + the OpenNI torso) by two-bone IK for arms and legs,
   placed in Kinect camera space (Y up, Z away, ~2.6-3.1 m from the camera).
4. **Skeleton measurement** (what a Kinect-like tracker reports): fast small
   oscillations (period <= 8 frames: wiping, chopping, typing, brushing,
   strumming) reach the skeleton at 30 % of their amplitude -- trackers
   resolve them poorly, which is what makes dense trajectories (F2) useful --
   then Gaussian jitter (0.7 cm per coordinate, +0.8 cm on hands and wrists),
   about 3 % dropped frames (at least one per video of >= 8 frames; whole rows
   NaN) and, in 30 % of the videos, a 1-3 frame hand dropout.  Written in the
   dataset's layout (``cad_15`` for CAD, ``kinect_v1_20`` otherwise).
5. **Rendering** (:mod:`data.synth._render`) of the *clean* joints through
   the dataset's camera model (:data:`data.geometry.CAMERAS`): shaded limbs,
   torso polygon, head with hair (seen from behind when the torso faces
   away), objects, furniture behind the person (baked into the background)
   and in front of it (pasted between the legs and the upper body), a small
   per-frame brightness flicker.  With ``image_size`` different from the
   camera's native size the drawing is scaled, so a joint lands at
   ``camera.project(xyz) * (image_size / camera.image_size)``.  PNG frames
   use compression level 1 (with the "up" filter).

Class design
------------
Each dataset has the three confusions the thesis targets, plus classes told
apart by gross body dynamics.  *Modality* = the feature meant to separate a
pair: **F1** appearance (body-part crops, min/max pooling), **F2** dense
trajectories, **F3** skeleton LSTM; *all* = gross dynamics every modality
sees.  The pairs are built so that:

* appearance-only (F1): the *same* script (same keys, same per-subject pace),
  only the held object differs in colour/shape; skeleton statistics agree;
* order-only (F3): one class is the other's script evaluated at ``1 - s``
  with the same pace and a symmetric time-warp, so its skeleton (and its
  objects, and its frames) is the time reverse of the partner's up to jitter
  and noise -- frame-level statistics (min/max pooling) are identical.  Dense
  trajectories carry the direction of each motion, so F2 separates these
  pairs as well (on the demo's data as well as F3 does);
* subtle short motion (F2): same gross pose and object, a fast small
  oscillation (4-6 frames per cycle, 1.5-3.5 cm) against a slow small
  displacement; the skeleton sees only 30 % of the fast part, under noise.

CAD-120 (scene: kitchen table, side cabinet with microwave and shelf, crate)::

    class                script                                                    modality
    having_meal          table -> mouth x2 -> table, orange bowl                   F1
    taking_medicine      identical script, white pill bottle with red cap          F1
    stacking_objects     3 boxes from the active side onto a growing stack         F3
    unstacking_objects   stacking_objects played backwards                         F3
    cleaning_objects     hand on the table, fast 3.5 cm wiping (6-frame period)    F2
    arranging_objects    same pose and object, slow +-4 cm displacement            F2
    picking_objects      bend 70 deg and crouch to a crate, box to the table       all
    microwaving_food     reach high to the side, door arcs, both-hand transfer     all
    making_cereal        lift a carton over a bowl, pour with a 110 deg tilt       all
    taking_food          step and lean 25 deg far sideways, take a carton          all

CAD-60 (scenes: office desk and chair, whiteboard, bathroom counter, kitchen,
sofa)::

    drinking water            counter -> mouth x2 -> counter, light-blue glass     F1
    rinsing mouth with water  identical script, red mug                            F1
    relaxing on couch         seated: lean back, stretch up, hands behind head     F3
    talking on couch          relaxing on couch played backwards                   F3
    cooking (chopping)        utensil over the counter, fast 3 cm vertical strokes F2
    cooking (stirring)        same pose and utensil, slow 3.5 cm circles           F2
    talking on the phone      standing, phone at the ear, other hand gestures      all
    writing on whiteboard     back to the camera (yaw 165 deg), arm high, strokes  all
    brushing teeth            hand at the mouth, fast side-to-side                 all
    wearing contact lenses    hands slowly to each eye, lens case                  all
    opening pill container    both hands at the chest twisting a cap               all
    working on computer       seated at the desk, typing, mouse                    all

MSRDailyActivity3D (living room with a sofa; ``e01`` = the first video of a
subject and action, seated for the posture-flexible scripts; ``e02`` the
second, standing)::

    drink / eat                 object to the mouth x2: blue cup / orange snack    F1
    read book / play game       held in both hands: white book / black controller  F1
    stand up / sit down         sit down = stand up played backwards               F3
    use laptop / write on a     pad in the passive hand: fast 1.5 cm typing taps   F2
      paper                     (4-frame period) / slow writing strokes
    call cellphone, use vacuum cleaner (long strokes), cheer up (arms up,
    waving), sit still, toss paper (overhead throw), lie down on sofa (tips
    over sideways), walk (across, in profile), play guitar (strumming)         all

Manifest (``kinect_v1_20`` skeletons as ``.npy``, MJPG ``.avi`` videos)::

    drink / take_pills          kitchen, cup / pill bottle                         F1
    get_up / sit_down           sit_down = get_up played backwards                 F3
    wipe_table / arrange_table  fast wiping / slow displacement                    F2
    pick_up, reach_shelf, walk, use_telephone                                      all

Layouts written: CAD-60 ``ROOT/data{N}/activityLabel.txt, <id>.txt,
<id>/RGB_<n>.png``; CAD-120 ``ROOT/Subject{N}_annotations/<activity>/
{activityLabel.txt, labeling.txt, <id>.txt}`` and
``ROOT/Subject{N}_rgbd_images/<activity>/<id>/RGB_<n>.png`` (sub-activity
segments from the scripts); MSR ``ROOT/aXX_sYY_eZZ_{skeleton.txt,rgb.avi}``;
manifest ``ROOT/manifest.csv`` + ``rgb/<id>.avi`` + ``skeleton/<id>.npy``.
No depth images are written.

The deep-stage datasets have writers of their own, reached through the same
:func:`generate` (:data:`NATIVE_DATASETS`): NTU RGB+D 60 / 120
(:mod:`data.synth.ntu`: ``.skeleton`` files, ``_rgb.avi`` videos, the
missing-skeleton list, and the full-size id lists the official split sizes
are checked on), Toyota Smarthome (:mod:`data.synth.smarthome`: MP4 clips and
LCR-Net pose JSON) and N-UCLA (:mod:`data.synth.nucla`: per-view sample
folders of JPEG frames and skeleton files).  Their class tables reuse the
scripts above under the datasets' real action names.
"""
from ._classes import CLASSES, ClassDef
from ._generate import NATIVE_WRITERS, SPECS, generate

DATASETS = tuple(SPECS)
#: The deep-stage datasets :func:`generate` writes through their own modules
#: (:mod:`data.synth.ntu`, :mod:`data.synth.smarthome`, :mod:`data.synth.nucla`).
NATIVE_DATASETS = tuple(NATIVE_WRITERS)


def class_names(dataset: str) -> list:
    """The class names of a synthetic dataset, in label-file order."""
    if dataset == "nucla":
        from .nucla import NUCLA_SYNTH_CLASSES
        return [c.name for _, c in sorted(NUCLA_SYNTH_CLASSES.items())]
    if dataset == "smarthome":
        from .smarthome import SMARTHOME_SYNTH_CLASSES
        return sorted(SMARTHOME_SYNTH_CLASSES)
    if dataset in ("ntu60", "ntu120"):
        from .ntu import NTU_SYNTH_CLASSES
        return [c.name for a, c in sorted(NTU_SYNTH_CLASSES.items())
                if dataset == "ntu120" or a <= 60]
    if dataset not in CLASSES:
        raise ValueError(f"unknown synthetic dataset {dataset!r}; expected one of "
                         f"{', '.join(CLASSES)}")
    return [c.name for c in CLASSES[dataset]]


__all__ = ["generate", "class_names", "DATASETS", "NATIVE_DATASETS", "CLASSES", "ClassDef"]
