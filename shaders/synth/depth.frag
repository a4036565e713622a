#version 330
// Writes the camera-space z of the nearest surface to a float32 target (cleared to 0 = no surface, sky).
in float v_z;
out float f_depth;
void main() {
    f_depth = v_z;
}
