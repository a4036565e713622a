#version 330 core
// Path-mode editor: the world cache's points, each in its own colour (the path panel's "World points" box).
uniform mat4 u_mvp;
uniform float u_size;
in vec3 in_position;
in vec3 in_colour;  // uint8 RGB, normalised to 0..1 by the vertex format
out vec3 v_colour;

void main() {
    gl_Position = u_mvp * vec4(in_position, 1.0);
    gl_PointSize = u_size;
    v_colour = in_colour;
}
