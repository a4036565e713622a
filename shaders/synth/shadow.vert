#version 330
// Depth-only pass from the sun (rendered once per world: the light and the scene are static).
uniform mat4 u_light_vp;
in vec3 in_pos;
void main() {
    gl_Position = u_light_vp * vec4(in_pos, 1.0);
}
