#version 330 core
// Path-mode editor: flat-coloured lines (grid, path polyline, frustums, axis handles).
// World space is OpenCV (+Y down); u_mvp already holds projection * view (row-major on the CPU, uploaded transposed).
uniform mat4 u_mvp;
in vec3 in_position;

void main() {
    gl_Position = u_mvp * vec4(in_position, 1.0);
}
