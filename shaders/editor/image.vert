#version 330 core
// Path-mode editor: the start image drawn on the far rectangle of the start camera's frustum.
uniform mat4 u_mvp;
in vec3 in_position;
in vec2 in_uv;
out vec2 v_uv;

void main() {
    v_uv = in_uv;
    gl_Position = u_mvp * vec4(in_position, 1.0);
}
