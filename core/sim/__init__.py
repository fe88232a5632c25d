"""The synthetic world: a simulated person, a camera and a wearable IMU with known ground truth.

    body     a 20-joint kinematic figure (Kinect v1 joint order) and simulated subjects
    actions  ten action classes as smooth parametric joint-angle trajectories, with variation
    imu      the inertial sensor: specific force and angular rate from motion, plus its flaws
    render   OpenCV camera frames of the figure in a cluttered, jittery, unevenly lit room
    stream   a scripted person performing actions with rests, emitting frames and IMU samples

The dataset writer (`c3t synth`) is in c3t.training.synth, the live source in
c3t.devices.simulated.
"""
