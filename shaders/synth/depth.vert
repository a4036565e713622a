#version 330
// Metric depth pass: camera-space z (distance along the camera's +Z axis, metres) of the visible surface.
// z is an affine function of the world position, so the (perspective-correct) interpolated varying is exact.
uniform mat4 u_view_proj;    // world -> clip (the colour pass's matrix: same coverage, same depth test)
uniform vec4 u_view_z;       // row 2 of world -> camera: z = dot(u_view_z, (pos, 1))
in vec3 in_pos;
out float v_z;
void main() {
    v_z = dot(u_view_z, vec4(in_pos, 1.0));
    gl_Position = u_view_proj * vec4(in_pos, 1.0);
}
