"""The synthetic world: a simulated person, a camera and a wearable IMU with known ground truth.

    body     a 20-joint kinematic figure (Kinect v1 joint order) and simulated subjects
    actions  ten action classes as smooth parametric joint-angle trajectories, with variation
    imu      the inertial sensor: specific force and angular rate from motion, plus its flaws
    render   OpenCV camera frames of the figure in a cluttered, jittery, unevenly lit room
    stream   a scripted person performing actions with rests, emitting frames and IMU samples

How much people and sessions differ (uniform draws unless said; deterministic in the seeds).
Per person: `Subject.sample(seed, index)`. Per repetition: `Variation.sample`. Per scene (one
camera in one room, `Scene`, seeded by the world's seed through `stream.room_rng`): its ranges
scale with `CameraConfig.placement` (camera, aim, clutter count) and `CameraConfig.lighting`
(light); placement = 0 gives a camera fixed at (0, height_m, distance_m) with fov_deg.

    quantity                             range                                per
    height                               1.50 .. 1.95 m                       person
    segment lengths                      share of height +-7 % (head +-4 %,   person
                                         shoulder / hip width +-9 %)
    build (limb and torso thickness)     x 0.75 .. 1.35                       person
    skin / hair                          5 tones +-10 % / dark, brown,        person
                                         blond, grey x 0.75 .. 1.25
    shirt, trousers                      any hue, value 0.12 .. 0.95, 1/4     person
                                         neutral; trousers 60 % jeans, black,
                                         grey, khaki, brown; >= 70 BGR apart
    sleeves / legs                       long or short 50 % / shorts 15 %     person
    facing (body yaw, rest root_yaw)     -20 .. +20 deg                       person
    standing spot                        +-0.2 m in X and Z from the mark     person
    tempo, amplitude, idle fidgeting     x 0.78..1.28, x 0.8..1.2, x 0.4..1.8 person
    speed (= tempo x 0.82..1.18)         0.65 .. 1.45 (clip = base / speed)   repetition
    amplitude (= person's x 0.9..1.1)    0.7 .. 1.3                           repetition
    camera distance (horizontal)         distance_m - 1.2 .. + 1.0: 2.3..4.5 m session
    camera azimuth around the mark       -20 .. +20 deg (facing relative to   session
                                         the camera: person - azimuth, +-40)
    camera height                        height_m - 0.25 .. + 0.55: 0.8..1.6 m session
    aim                                  at aim_m (1.0 m) over the mark, then session
                                         yaw +-5, pitch +-2, roll +-3 deg
    vertical field of view               fov_deg + 0..8 deg, widened so a     session
                                         2.2 m tall view fits at the nearest
                                         spot: 40 .. ~57 deg
    light gain / colour temperature      x 0.5 .. 1.35 / +-15 % red vs blue,  session
                                         +-6 % per channel; ambient 0..30
    light gradient, vignette             +-50 % across, +-35 % down; 0..45 %  session
    wall / floor colour                  grey 45..235 / 30..190, each         session
                                         channel tinted +-30 % / +-35 %
    clutter objects                      clutter x 0.4 .. 1.6 (14: 6 .. 22)   session
    light strength, flicker, shake       x 0.85..1.15, 4 %, 0.35 deg / 6 mm   take

"session" rows vary per scene: a `c3t synth` dataset has one scene for everyone (`--rooms one`,
a lab as in UTD-MHAD) or one per person (`--rooms per-person`: each person at home, so an unseen
person is also an unseen room); a live simulated source has the scene of its seed.

The dataset writer (`c3t synth`) is in c3t.training.synth, the live source in
c3t.devices.simulated.
"""
