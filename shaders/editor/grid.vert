#version 330 core
// Path-mode editor: the ground grid's lines; the fragment shader fades them with distance (grid.frag).
// World space is OpenCV (+Y down); u_mvp already holds projection * view (row-major on the CPU, uploaded transposed).
uniform mat4 u_mvp;
in vec3 in_position;
out vec3 v_world;

void main() {
    v_world = in_position;
    gl_Position = u_mvp * vec4(in_position, 1.0);
}
